"""Initial schema: the whole domain of DESIGN §2.

Users and labels, groups and memberships, programs, sessions, trainers, session groups,
enrollments and their group sources, invitations, invite links and their uses, outbox emails,
import jobs and audit events. Timestamps are naive UTC (lms.db_types.UTCDateTime).

Revision ID: bbc7fbbb17b6
Revises: 
Create Date: 2026-11-21 07:24:13.248176

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'bbc7fbbb17b6'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('name_key', sa.String(length=120), nullable=False),
    sa.Column('public_id', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_groups')),
    sa.UniqueConstraint('name_key', name=op.f('uq_groups_name_key')),
    sa.UniqueConstraint('public_id', name=op.f('uq_groups_public_id'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('first_name', sa.String(length=100), server_default='', nullable=False),
    sa.Column('last_name', sa.String(length=100), server_default='', nullable=False),
    sa.Column('language', sa.String(length=35), server_default='en', nullable=False),
    sa.Column('role', sa.Enum('admin', 'manager', 'learner', name='role', native_enum=False, create_constraint=True, length=20), server_default='learner', nullable=False),
    sa.Column('status', sa.Enum('invited', 'active', 'deactivated', name='status', native_enum=False, create_constraint=True, length=20), server_default='invited', nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('deactivate_on', sa.Date(), nullable=True),
    sa.Column('additional_info', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.Column('deactivated_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_users_email_lowercase')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_deactivate_on'), ['deactivate_on'], unique=False)
        batch_op.create_index('ix_users_last_name_first_name', ['last_name', 'first_name'], unique=False)
        batch_op.create_index('ix_users_status_role', ['status', 'role'], unique=False)

    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_events_actor_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_audit_events_target_type_target_id', ['target_type', 'target_id'], unique=False)

    op.create_table('group_memberships',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_group_memberships_added_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_group_memberships_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_group_memberships_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'user_id', name=op.f('pk_group_memberships'))
    )
    with op.batch_alter_table('group_memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_memberships_user_id'), ['user_id'], unique=False)

    op.create_table('import_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('mode', sa.String(length=10), server_default='create', nullable=False),
    sa.Column('is_dry_run', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('is_strict', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('queued', 'running', 'finished', 'failed', name='status', native_enum=False, create_constraint=True, length=20), server_default='queued', nullable=False),
    sa.Column('input_data', sa.LargeBinary(), nullable=True),
    sa.Column('rows_total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rows_processed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('unchanged_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('skipped_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rejected_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('emails_queued', sa.Integer(), server_default='0', nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('failure_message', sa.Text(), nullable=True),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_import_jobs_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_jobs'))
    )
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_jobs_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index('ix_import_jobs_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('programs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('archived_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_programs_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programs'))
    )
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programs_owner_id'), ['owner_id'], unique=False)

    op.create_table('user_labels',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_labels_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'label', name=op.f('pk_user_labels'))
    )
    with op.batch_alter_table('user_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_labels_label'), ['label'], unique=False)

    op.create_table('program_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=True),
    sa.Column('archived_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('ends_at IS NULL OR ends_at >= starts_at', name=op.f('ck_program_sessions_ends_after_start')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_program_sessions_program_id_programs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_program_sessions'))
    )
    with op.batch_alter_table('program_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_program_sessions_ends_at'), ['ends_at'], unique=False)
        batch_op.create_index('ix_program_sessions_program_id_starts_at', ['program_id', 'starts_at'], unique=False)

    op.create_table('enrollments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('invited', 'accepted', 'declined', 'cancelled', name='status', native_enum=False, create_constraint=True, length=20), server_default='invited', nullable=False),
    sa.Column('is_direct', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('token_nonce', sa.String(length=64), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('email_due_at', sa.DateTime(), nullable=True),
    sa.Column('email_sent_at', sa.DateTime(), nullable=True),
    sa.Column('responded_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['program_sessions.id'], name=op.f('fk_enrollments_session_id_program_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_enrollments_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrollments')),
    sa.UniqueConstraint('session_id', 'user_id', name=op.f('uq_enrollments_session_id_user_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_enrollments_token_hash'))
    )
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.create_index('ix_enrollments_email_due_at', ['email_due_at'], unique=False)
        batch_op.create_index('ix_enrollments_session_id_status', ['session_id', 'status'], unique=False)
        batch_op.create_index('ix_enrollments_user_id_status', ['user_id', 'status'], unique=False)

    op.create_table('invite_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_nonce', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('target', sa.Enum('platform', 'group', 'session', name='target', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.Enum('admin', 'manager', 'learner', name='role', native_enum=False, create_constraint=True, length=20), server_default='learner', nullable=False),
    sa.Column('allowed_domain', sa.String(length=255), nullable=True),
    sa.Column('deactivate_on', sa.Date(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('max_uses', sa.Integer(), nullable=True),
    sa.Column('use_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('is_self_registration', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("(target = 'platform' AND group_id IS NULL AND session_id IS NULL) OR (target = 'group' AND group_id IS NOT NULL AND session_id IS NULL) OR (target = 'session' AND session_id IS NOT NULL AND group_id IS NULL)", name=op.f('ck_invite_links_target_matches_ids')),
    sa.CheckConstraint("role <> 'admin'", name=op.f('ck_invite_links_role_not_admin')),
    sa.CheckConstraint('max_uses IS NULL OR max_uses > 0', name=op.f('ck_invite_links_max_uses_positive')),
    sa.CheckConstraint('max_uses IS NULL OR use_count <= max_uses', name=op.f('ck_invite_links_use_count_within_max_uses')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_invite_links_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_invite_links_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['program_sessions.id'], name=op.f('fk_invite_links_session_id_program_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invite_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invite_links_token_hash'))
    )
    with op.batch_alter_table('invite_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invite_links_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invite_links_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invite_links_session_id'), ['session_id'], unique=False)

    op.create_table('session_groups',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_session_groups_added_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_session_groups_group_id_groups'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['session_id'], ['program_sessions.id'], name=op.f('fk_session_groups_session_id_program_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'group_id', name=op.f('pk_session_groups'))
    )
    with op.batch_alter_table('session_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_groups_group_id'), ['group_id'], unique=False)

    op.create_table('session_trainers',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['program_sessions.id'], name=op.f('fk_session_trainers_session_id_program_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_session_trainers_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'user_id', name=op.f('pk_session_trainers'))
    )
    with op.batch_alter_table('session_trainers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_trainers_user_id'), ['user_id'], unique=False)

    op.create_table('enrollment_groups',
    sa.Column('enrollment_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], name=op.f('fk_enrollment_groups_enrollment_id_enrollments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_enrollment_groups_group_id_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('enrollment_id', 'group_id', name=op.f('pk_enrollment_groups'))
    )
    with op.batch_alter_table('enrollment_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrollment_groups_group_id'), ['group_id'], unique=False)

    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'accepted', 'declined', 'cancelled', 'expired', name='status', native_enum=False, create_constraint=True, length=20), server_default='pending', nullable=False),
    sa.Column('role', sa.Enum('admin', 'manager', 'learner', name='role', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('language', sa.String(length=35), nullable=False),
    sa.Column('message', sa.Text(), server_default='', nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('invite_link_id', sa.Integer(), nullable=True),
    sa.Column('token_nonce', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('send_email', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('reminder_sent_at', sa.DateTime(), nullable=True),
    sa.Column('responded_at', sa.DateTime(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['invite_link_id'], ['invite_links.id'], name=op.f('fk_invitations_invite_link_id_invite_links'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name=op.f('fk_invitations_invited_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_invitations_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index('ix_invitations_status_expires_at', ['status', 'expires_at'], unique=False)
        batch_op.create_index('ix_invitations_status_sent_at', ['status', 'sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitations_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_invitations_pending_user', ['user_id'], unique=True, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))

    op.create_table('invite_link_uses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['invite_links.id'], name=op.f('fk_invite_link_uses_link_id_invite_links'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_invite_link_uses_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invite_link_uses')),
    sa.UniqueConstraint('link_id', 'user_id', name=op.f('uq_invite_link_uses_link_id_user_id'))
    )
    with op.batch_alter_table('invite_link_uses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invite_link_uses_user_id'), ['user_id'], unique=False)

    op.create_table('outbox_emails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('language', sa.String(length=35), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('enrollment_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('queued', 'sent', 'failed', 'cancelled', name='status', native_enum=False, create_constraint=True, length=20), server_default='queued', nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['enrollment_id'], ['enrollments.id'], name=op.f('fk_outbox_emails_enrollment_id_enrollments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_outbox_emails_invitation_id_invitations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_outbox_emails_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_emails')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_emails_dedupe_key'))
    )
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_emails_enrollment_id'), ['enrollment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_emails_invitation_id'), ['invitation_id'], unique=False)
        batch_op.create_index('ix_outbox_emails_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_outbox_emails_user_id_status', ['user_id', 'status'], unique=False)



def downgrade():
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_emails_user_id_status')
        batch_op.drop_index('ix_outbox_emails_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_outbox_emails_invitation_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_emails_enrollment_id'))

    op.drop_table('outbox_emails')
    with op.batch_alter_table('invite_link_uses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invite_link_uses_user_id'))

    op.drop_table('invite_link_uses')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index('uq_invitations_pending_user', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_invitations_user_id'))
        batch_op.drop_index('ix_invitations_status_sent_at')
        batch_op.drop_index('ix_invitations_status_expires_at')

    op.drop_table('invitations')
    with op.batch_alter_table('enrollment_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrollment_groups_group_id'))

    op.drop_table('enrollment_groups')
    with op.batch_alter_table('session_trainers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_trainers_user_id'))

    op.drop_table('session_trainers')
    with op.batch_alter_table('session_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_groups_group_id'))

    op.drop_table('session_groups')
    with op.batch_alter_table('invite_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invite_links_session_id'))
        batch_op.drop_index(batch_op.f('ix_invite_links_group_id'))
        batch_op.drop_index(batch_op.f('ix_invite_links_created_by_id'))

    op.drop_table('invite_links')
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_index('ix_enrollments_user_id_status')
        batch_op.drop_index('ix_enrollments_session_id_status')
        batch_op.drop_index('ix_enrollments_email_due_at')

    op.drop_table('enrollments')
    with op.batch_alter_table('program_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_program_sessions_program_id_starts_at')
        batch_op.drop_index(batch_op.f('ix_program_sessions_ends_at'))

    op.drop_table('program_sessions')
    with op.batch_alter_table('user_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_labels_label'))

    op.drop_table('user_labels')
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_programs_owner_id'))

    op.drop_table('programs')
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_import_jobs_status_created_at')
        batch_op.drop_index(batch_op.f('ix_import_jobs_created_by_id'))

    op.drop_table('import_jobs')
    with op.batch_alter_table('group_memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_memberships_user_id'))

    op.drop_table('group_memberships')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_target_type_target_id')
        batch_op.drop_index(batch_op.f('ix_audit_events_created_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_actor_id'))

    op.drop_table('audit_events')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_status_role')
        batch_op.drop_index('ix_users_last_name_first_name')
        batch_op.drop_index(batch_op.f('ix_users_deactivate_on'))

    op.drop_table('users')
    op.drop_table('groups')
