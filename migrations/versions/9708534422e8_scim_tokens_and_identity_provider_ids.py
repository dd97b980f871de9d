"""SCIM tokens and identity provider ids

`scim_tokens` holds the identity providers' bearer tokens, hashed. Users get the name their
identity provider knows them by when it is not their email (`scim_user_name`) and the time it
deleted them (`scim_removed_at`); groups get the provider's id (`external_id`), `updated_at` and `scim_removed_at`.

Revision ID: 9708534422e8
Revises: d9e2c4b7a610
Create Date: 2026-12-04 19:01:16.630974

"""
from alembic import op
import sqlalchemy as sa

import lms.db_types


# revision identifiers, used by Alembic.
revision = '9708534422e8'
down_revision = 'd9e2c4b7a610'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scim_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', lms.db_types.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', lms.db_types.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', lms.db_types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_scim_tokens_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scim_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_scim_tokens_token_hash'))
    )
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', lms.db_types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('scim_removed_at', lms.db_types.UTCDateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_groups_external_id'), ['external_id'])

    # Columns and an index added in place: a batch copy of `users` on SQLite would lose its
    # expression indexes (ix_users_name_order, ix_users_lower_first_name).
    op.add_column('users', sa.Column('scim_user_name', sa.String(length=255), nullable=True))
    op.add_column('users', sa.Column('scim_removed_at', lms.db_types.UTCDateTime(), nullable=True))
    op.create_index('ix_users_scim_user_name', 'users', ['scim_user_name'], unique=True)



def downgrade():
    op.drop_index('ix_users_scim_user_name', table_name='users')
    op.drop_column('users', 'scim_removed_at')
    op.drop_column('users', 'scim_user_name')

    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_groups_external_id'), type_='unique')
        batch_op.drop_column('scim_removed_at')
        batch_op.drop_column('external_id')
        batch_op.drop_column('updated_at')

    op.drop_table('scim_tokens')
