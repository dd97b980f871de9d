"""link signups: newcomers awaiting email verification

Someone new who joins through an invite link fills in a short form; the account is created
only when they open the verification link sent to that address. Until then the form's
values wait here.

Revision ID: 7dcc54994f96
Revises: 3a1d0c6e9b42
Create Date: 2026-11-21 12:13:05.738998

"""
from alembic import op
import sqlalchemy as sa

import lms.db_types


# revision identifiers, used by Alembic.
revision = '7dcc54994f96'
down_revision = '3a1d0c6e9b42'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('link_signups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('language', sa.String(length=35), nullable=False),
    sa.Column('token_nonce', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', lms.db_types.UTCDateTime(), nullable=False),
    sa.Column('created_at', lms.db_types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['invite_links.id'], name=op.f('fk_link_signups_link_id_invite_links'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_signups')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_link_signups_token_hash'))
    )
    with op.batch_alter_table('link_signups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_signups_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_link_signups_link_id'), ['link_id'], unique=False)



def downgrade():
    with op.batch_alter_table('link_signups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_signups_link_id'))
        batch_op.drop_index(batch_op.f('ix_link_signups_expires_at'))

    op.drop_table('link_signups')
