"""drop enrollment indexes no query uses

Every bulk enrollment paid for them: (session_id, status) is served by the unique
(session_id, user_id) index's prefix, and nothing looks enrollments up by email_due_at (the
outbox row carries the due time). See docs/performance.md.

Revision ID: 7f196285ee41
Revises: 5c7e9932bb25
Create Date: 2026-11-21 10:08:04.826627

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '7f196285ee41'
down_revision = '5c7e9932bb25'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrollments_email_due_at'))
        batch_op.drop_index(batch_op.f('ix_enrollments_session_id_status'))


def downgrade():
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrollments_session_id_status'), ['session_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrollments_email_due_at'), ['email_due_at'], unique=False)
