"""user notices for the in-app inbox

Revision ID: 5c7e9932bb25
Revises: bbc7fbbb17b6
Create Date: 2026-11-21 07:56:24.761538

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c7e9932bb25'
down_revision = 'bbc7fbbb17b6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('user_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_notices_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_notices'))
    )
    with op.batch_alter_table('user_notices', schema=None) as batch_op:
        batch_op.create_index('ix_user_notices_user_id_read_at', ['user_id', 'read_at'], unique=False)



def downgrade():
    with op.batch_alter_table('user_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_user_notices_user_id_read_at')

    op.drop_table('user_notices')
