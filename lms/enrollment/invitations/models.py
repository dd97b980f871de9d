"""Invitations to the platform: one live invitation per invited user."""
import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import Role, User
from lms.db_types import UTCDateTime, enum_type
from lms.extensions import db


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
    # What cancelling or declining took out, put back by inviting again (R12):
    # {"group_ids": [...], "session_ids": [sessions the person was added to directly]}.
    withdrawn: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    def __repr__(self):
        return f"<Invitation {self.id} user={self.user_id} {self.status.value}>"
