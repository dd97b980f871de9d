"""users get an external id; roster column mappings are remembered per header

`users.external_id` is the person's id in the HR system (unique when set): rosters match on it
before the email. `roster_mappings` keeps the columns HR mapped on a preview, by the header's
signature, for the next file with the same header.

Revision ID: b4e6f8a0c123
Revises: a8c3d5e7f912
Create Date: 2026-12-03 07:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

from lms.db_types import UTCDateTime


# revision identifiers, used by Alembic.
revision = 'b4e6f8a0c123'
down_revision = 'a8c3d5e7f912'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_users_external_id'), ['external_id'])
    op.create_table(
        'roster_mappings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('signature', sa.String(length=64), nullable=False),
        sa.Column('mapping', sa.JSON(), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_roster_mappings_updated_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_mappings')),
        sa.UniqueConstraint('signature', name=op.f('uq_roster_mappings_signature')),
    )
    with op.batch_alter_table('roster_mappings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roster_mappings_updated_by_id'), ['updated_by_id'], unique=False)


def downgrade():
    with op.batch_alter_table('roster_mappings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_roster_mappings_updated_by_id'))
    op.drop_table('roster_mappings')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_external_id'), type_='unique')
        batch_op.drop_column('external_id')
