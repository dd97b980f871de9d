"""leases name their worker: worker heartbeats replace fixed lease expiry

A claimed outbox email or import job names the worker holding it (`locked_by`); the lease
holds while that worker's heartbeat row is renewed (lms.workers), instead of until a fixed
`locked_until`. Leases held during the upgrade are released (their owner is unknown).

Revision ID: c4f1a8e2d901
Revises: 7dcc54994f96
Create Date: 2026-12-02 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4f1a8e2d901'
down_revision = '7dcc54994f96'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('worker_heartbeats',
    sa.Column('id', sa.String(length=120), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('beat_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_worker_heartbeats'))
    )
    for table in ('outbox_emails', 'import_jobs'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('locked_by', sa.String(length=120), nullable=True))
            batch_op.drop_column('locked_until')


def downgrade():
    for table in ('import_jobs', 'outbox_emails'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('locked_until', sa.DateTime(), nullable=True))
            batch_op.drop_column('locked_by')
    op.drop_table('worker_heartbeats')
