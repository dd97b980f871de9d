"""The outbox: every email is a row first (R10). The row is the truth; the scheduler is the clock."""
import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.db_types import UTCDateTime, enum_type
from lms.extensions import db


class OutboxStatus(enum.StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"
    cancelled = "cancelled"


class OutboxEmail(db.Model):
    __tablename__ = "outbox_emails"
    __table_args__ = (
        Index("ix_outbox_emails_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_emails_user_id_status", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(35))
    # What the template needs (ids, not tokens: links are derived when the email is rendered).
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="SET NULL"), index=True
    )
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollments.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[OutboxStatus] = mapped_column(
        enum_type(OutboxStatus, "status"),
        server_default=OutboxStatus.queued.value,
        default=OutboxStatus.queued,
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(120))  # the worker sending it (lms.workers)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def __repr__(self):
        return f"<OutboxEmail {self.id} {self.kind} to={self.recipient} {self.status.value}>"


class UserNotice(db.Model):
    """A message for a user's in-app inbox (R1: "you were added to group X")."""

    __tablename__ = "user_notices"
    __table_args__ = (Index("ix_user_notices_user_id_read_at", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    context: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self):
        return f"<UserNotice {self.id} user={self.user_id} {self.kind}>"
