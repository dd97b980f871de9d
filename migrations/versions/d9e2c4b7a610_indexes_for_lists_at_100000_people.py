"""indexes for lists at 100,000 people

Lists order people by lower(last_name), lower(first_name), email and search matches the start
of names and emails: `ix_users_name_order` serves the order and last-name prefixes,
`ix_users_lower_first_name` first-name prefixes (emails have their unique index). It replaces
the case-sensitive `ix_users_last_name_first_name`, which no list used. A session page counts
its registrations by status with `ix_enrollments_session_id_status`.

On SQLite, lower() is the application's own deterministic function (lms.extensions), so these
indexes are written and read by the app's connections (a bare sqlite3 shell cannot change
users' names).

Revision ID: d9e2c4b7a610
Revises: 654542ca5d2d
Create Date: 2026-12-03 16:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd9e2c4b7a610'
down_revision = '654542ca5d2d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_enrollments_session_id_status', 'enrollments', ['session_id', 'status'], unique=False)
    op.create_index('ix_users_name_order', 'users',
                    [sa.text('lower(last_name)'), sa.text('lower(first_name)'), 'email'], unique=False)
    op.create_index('ix_users_lower_first_name', 'users', [sa.text('lower(first_name)')], unique=False)
    op.drop_index('ix_users_last_name_first_name', table_name='users')


def downgrade():
    op.create_index('ix_users_last_name_first_name', 'users', ['last_name', 'first_name'], unique=False)
    op.drop_index('ix_users_lower_first_name', table_name='users')
    op.drop_index('ix_users_name_order', table_name='users')
    op.drop_index('ix_enrollments_session_id_status', table_name='enrollments')
