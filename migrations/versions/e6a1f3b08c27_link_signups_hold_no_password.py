"""link sign-ups hold no password: the owner of the address chooses it when confirming

Whoever fills in a link's form may not own the address they type; the password is now chosen
on the confirmation page, which only the address's owner reaches. Sign-ups waiting for their
confirmation keep working (they are asked for a password when confirmed).

Revision ID: e6a1f3b08c27
Revises: d2b7e4a19c55
Create Date: 2026-12-02 16:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e6a1f3b08c27'
down_revision = 'd2b7e4a19c55'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('link_signups', schema=None) as batch_op:
        batch_op.drop_column('password_hash')


def downgrade():
    with op.batch_alter_table('link_signups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_hash', sa.String(length=255), nullable=False, server_default=''))
