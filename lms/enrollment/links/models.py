"""Invite links, who joined through them, and the newcomers still confirming their address."""
import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import Role, User
from lms.db_types import UTCDateTime, enum_type
from lms.enrollment.groups.models import Group
from lms.extensions import db

if TYPE_CHECKING:
    from lms.programs.models import ProgramSession


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
    someone else never becomes a user. It holds no password: the owner of the address chooses
    one when they confirm. The row goes once used or stale.
    """

    __tablename__ = "link_signups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("invite_links.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(35))
    token_nonce: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    link: Mapped[InviteLink] = relationship()

    def __repr__(self):
        return f"<LinkSignup {self.id} link={self.link_id} {self.email}>"
