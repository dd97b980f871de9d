"""groups opened to trainers, and session versions

`groups.open_to_trainers`: the groups a manager may add to the sessions they manage. Existing
groups start closed: until an admin opens a group, only admins add it to sessions (groups
already assigned stay assigned).
`users.session_version`: part of every session cookie; raising it ends all of a person's
sessions. Cookies from before the upgrade carry none, so everyone signs in once again.

Revision ID: d2b7e4a19c55
Revises: c4f1a8e2d901
Create Date: 2026-12-02 15:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd2b7e4a19c55'
down_revision = 'c4f1a8e2d901'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('open_to_trainers', sa.Boolean(), nullable=False,
                                      server_default=sa.text('false')))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_column('open_to_trainers')
