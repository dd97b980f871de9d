"""import drafts and their preview

A roster is previewed before it is imported: the previewed job is a draft (nothing written
yet) holding the rows as the preview shows them. A running job counts the rows it has
checked before those it has written, so its progress bar moves through both steps.

Revision ID: 3a1d0c6e9b42
Revises: 7f196285ee41
Create Date: 2026-11-21 14:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3a1d0c6e9b42'
down_revision = '7f196285ee41'
branch_labels = None
depends_on = None

OLD = "status IN ('queued', 'running', 'finished', 'failed')"
NEW = "status IN ('draft', 'queued', 'running', 'finished', 'failed')"


def upgrade():
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preview', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('rows_checked', sa.Integer(), server_default='0', nullable=False))
        batch_op.drop_constraint(op.f('ck_import_jobs_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_import_jobs_status'), NEW)


def downgrade():
    op.execute("DELETE FROM import_jobs WHERE status = 'draft'")
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_import_jobs_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_import_jobs_status'), OLD)
        batch_op.drop_column('rows_checked')
        batch_op.drop_column('preview')
