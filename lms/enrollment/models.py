"""Groups and the ways people come in: invitations, invite links and roster imports."""
import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import Role, User
from lms.db_types import UTCDateTime, enum_type
from lms.extensions import db

if TYPE_CHECKING:
    from lms.programs.models import ProgramSession


class Group(db.Model):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # casefold(name): unique, so "Sales" and "SALES" (and "Équipe"/"ÉQUIPE") cannot both exist.
    # SQLite's lower() folds ASCII only, so the key is computed in Python.
    name_key: Mapped[str] = mapped_column(String(120), unique=True)
    # Short id that admins copy into rosters (`groups` column); never reused.
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    memberships: Mapped[list["GroupMembership"]] = relationship(
        back_populates="group", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self):
        return f"<Group {self.id} {self.public_id} {self.name!r}>"


class GroupMembership(db.Model):
    __tablename__ = "group_memberships"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    group: Mapped[Group] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    def __repr__(self):
        return f"<GroupMembership group={self.group_id} user={self.user_id}>"


class InvitationStatus(enum.StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    cancelled = "cancelled"
    expired = "expired"


class Invitation(db.Model):
    """An invitation to the platform for one (invited) user. Tokens: see lms.tokens."""

    __tablename__ = "invitations"
    __table_args__ = (
        # One live invitation per user.
        Index(
            "uq_invitations_pending_user",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_invitations_status_expires_at", "status", "expires_at"),
        Index("ix_invitations_status_sent_at", "status", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[InvitationStatus] = mapped_column(
        enum_type(InvitationStatus, "status"),
        server_default=InvitationStatus.pending.value,
        default=InvitationStatus.pending,
    )
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"))
    language: Mapped[str] = mapped_column(String(35))
    message: Mapped[str] = mapped_column(Text, server_default="", default="")
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    invite_link_id: Mapped[int | None] = mapped_column(
        ForeignKey("invite_links.id", ondelete="SET NULL")
    )
    token_nonce: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    send_email: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), default=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    def __repr__(self):
        return f"<Invitation {self.id} user={self.user_id} {self.status.value}>"


class InviteLinkTarget(enum.StrEnum):
    platform = "platform"
    group = "group"
    session = "session"


class InviteLink(db.Model):
    """A shareable URL (and QR code) to join the platform, a group or a session."""

    __tablename__ = "invite_links"
    __table_args__ = (
        CheckConstraint("role <> 'admin'", name="role_not_admin"),
        CheckConstraint("max_uses IS NULL OR max_uses > 0", name="max_uses_positive"),
        CheckConstraint(
            "max_uses IS NULL OR use_count <= max_uses", name="use_count_within_max_uses"
        ),
        CheckConstraint(
            "(target = 'platform' AND group_id IS NULL AND session_id IS NULL)"
            " OR (target = 'group' AND group_id IS NOT NULL AND session_id IS NULL)"
            " OR (target = 'session' AND session_id IS NOT NULL AND group_id IS NULL)",
            name="target_matches_ids",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_nonce: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    target: Mapped[InviteLinkTarget] = mapped_column(enum_type(InviteLinkTarget, "target"))
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("program_sessions.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(
        enum_type(Role, "role"), server_default=Role.learner.value, default=Role.learner
    )
    allowed_domain: Mapped[str | None] = mapped_column(String(255))
    deactivate_on: Mapped[date | None] = mapped_column(Date)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_uses: Mapped[int | None] = mapped_column(Integer)
    use_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    is_self_registration: Mapped[bool] = mapped_column(
        Boolean, server_default=text("false"), default=False
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    group: Mapped[Group | None] = relationship()
    session: Mapped["ProgramSession | None"] = relationship("ProgramSession")
    created_by: Mapped[User | None] = relationship()

    def __repr__(self):
        return f"<InviteLink {self.id} {self.target.value} uses={self.use_count}/{self.max_uses}>"


class InviteLinkUse(db.Model):
    """Who joined through a link: joining twice counts once."""

    __tablename__ = "invite_link_uses"
    __table_args__ = (UniqueConstraint("link_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("invite_links.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def __repr__(self):
        return f"<InviteLinkUse link={self.link_id} user={self.user_id}>"


class LinkSignup(db.Model):
    """A newcomer who filled in a link's form and has not yet confirmed their email.

    The account is only created when they open the verification link, so an address typed by
    someone else never becomes a user; the row (and its password hash) goes once used or stale.
    """

    __tablename__ = "link_signups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("invite_links.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(35))
    token_nonce: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    link: Mapped[InviteLink] = relationship()

    def __repr__(self):
        return f"<LinkSignup {self.id} link={self.link_id} {self.email}>"


class ImportJobStatus(enum.StrEnum):
    draft = "draft"  # previewed; nothing is written until the admin starts it
    queued = "queued"
    running = "running"
    finished = "finished"
    failed = "failed"


class ImportJob(db.Model):
    """A bulk roster import; the row is the job's state, so progress survives reloads and workers."""

    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(10))  # paste | csv | xlsx
    filename: Mapped[str | None] = mapped_column(String(255))
    mode: Mapped[str] = mapped_column(String(10), server_default="create", default="create")
    is_dry_run: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    is_strict: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[ImportJobStatus] = mapped_column(
        enum_type(ImportJobStatus, "status"),
        server_default=ImportJobStatus.queued.value,
        default=ImportJobStatus.queued,
    )
    input_data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    rows_total: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    rows_checked: Mapped[int] = mapped_column(Integer, server_default="0", default=0)  # planned, first
    rows_processed: Mapped[int] = mapped_column(Integer, server_default="0", default=0)  # then written
    created_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    updated_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    emails_queued: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    errors: Mapped[list] = mapped_column(JSON, default=list, deferred=True)
    # A draft's rows as the preview shows them (lms.enrollment.import_jobs.preview_rows).
    preview: Mapped[list | None] = mapped_column(JSON, deferred=True)
    failure_message: Mapped[str | None] = mapped_column(Text)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    def __repr__(self):
        return f"<ImportJob {self.id} {self.status.value} {self.rows_processed}/{self.rows_total}>"
