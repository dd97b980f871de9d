"""accounts look after themselves: password resets, must-change, audit subjects, import rows

`password_resets` holds Forgot password links (a nonce and the token's hash, R9);
`users.must_change_password` makes every page ask for a new password; `audit_events.user_id`
names the person an event is about (filled in here for the events already recorded), so each
person's page lists their history; `import_job_rows` is what an import did with each person.

Revision ID: 654542ca5d2d
Revises: b4e6f8a0c123
Create Date: 2026-12-03 14:57:41.623301

"""
from alembic import op
import sqlalchemy as sa

from lms.db_types import UTCDateTime


# revision identifiers, used by Alembic.
revision = '654542ca5d2d'
down_revision = 'b4e6f8a0c123'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('password_resets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_nonce', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('used_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_resets_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_resets')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_resets_token_hash'))
    )
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_resets_user_id'), ['user_id'], unique=False)

    op.create_table('import_job_rows',
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.Enum('created', 'updated', 'unchanged', 'skipped', name='outcome', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['import_jobs.id'], name=op.f('fk_import_job_rows_job_id_import_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_import_job_rows_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('job_id', 'line', name=op.f('pk_import_job_rows'))
    )
    with op.batch_alter_table('import_job_rows', schema=None) as batch_op:
        batch_op.create_index('ix_import_job_rows_job_id_outcome_line', ['job_id', 'outcome', 'line'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_job_rows_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_audit_events_action_created_at', ['action', 'created_at'], unique=False)
        batch_op.create_index('ix_audit_events_user_id_created_at', ['user_id', 'created_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_audit_events_user_id_users'), 'users', ['user_id'], ['id'], ondelete='SET NULL')
    op.execute("UPDATE audit_events SET user_id = target_id WHERE target_type = 'user' "
               "AND target_id IN (SELECT id FROM users)")
    op.execute("UPDATE audit_events SET user_id = (SELECT invitations.user_id FROM invitations "
               "WHERE invitations.id = audit_events.target_id) WHERE target_type = 'invitation'")

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.text('false'), nullable=False))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_audit_events_user_id_users'), type_='foreignkey')
        batch_op.drop_index('ix_audit_events_user_id_created_at')
        batch_op.drop_index('ix_audit_events_action_created_at')
        batch_op.drop_column('user_id')

    with op.batch_alter_table('import_job_rows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_job_rows_user_id'))
        batch_op.drop_index('ix_import_job_rows_job_id_outcome_line')

    op.drop_table('import_job_rows')
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_resets_user_id'))

    op.drop_table('password_resets')
