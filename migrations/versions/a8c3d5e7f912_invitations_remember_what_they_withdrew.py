"""invitations remember what cancelling or declining them withdrew (R12)

Cancelling or declining a platform invitation takes the person out of the groups and pending
sessions it brought; inviting them again puts them back. `withdrawn` holds what was taken out:
{"group_ids": [...], "session_ids": [...]} (sessions they had been added to directly).

Revision ID: a8c3d5e7f912
Revises: e6a1f3b08c27
Create Date: 2026-12-02 18:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a8c3d5e7f912'
down_revision = 'e6a1f3b08c27'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_column('withdrawn')
