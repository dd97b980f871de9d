"""Users: who can sign in, with which role, and until when."""
import enum
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db_types import UTCDateTime, enum_type
from lms.extensions import db


class Role(enum.StrEnum):
    admin = "admin"
    manager = "manager"
    learner = "learner"

    @property
    def label(self):
        return {"admin": "Admin", "manager": "Manager (trainer)", "learner": "Learner"}[self.value]


class UserStatus(enum.StrEnum):
    invited = "invited"
    active = "active"
    deactivated = "deactivated"


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        # Emails are normalised (lower-cased) before they are stored, so the plain unique
        # constraint is case-insensitive; the check keeps every writer honest.
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        Index("ix_users_status_role", "status", "role"),
        # Lists order people by name ignoring case (lms.accounts.services.USER_ORDER), and search
        # matches the start of names: these serve both, on SQLite (lower() is the app's own,
        # deterministic, lms.extensions) as on PostgreSQL.
        Index("ix_users_name_order", func.lower(text("last_name")), func.lower(text("first_name")), "email"),
        Index("ix_users_lower_first_name", func.lower(text("first_name"))),
        # A unique index, not a constraint: adding it needs no copy of the table on SQLite, where
        # a copy would lose the expression indexes above (Alembic cannot reflect them).
        Index("ix_users_scim_user_name", "scim_user_name", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str] = mapped_column(String(100), server_default="", default="")
    last_name: Mapped[str] = mapped_column(String(100), server_default="", default="")
    language: Mapped[str] = mapped_column(String(35), server_default="en", default="en")
    role: Mapped[Role] = mapped_column(
        enum_type(Role, "role"), server_default=Role.learner.value, default=Role.learner
    )
    status: Mapped[UserStatus] = mapped_column(
        enum_type(UserStatus, "status"),
        server_default=UserStatus.invited.value,
        default=UserStatus.invited,
    )
    password_hash: Mapped[str | None] = mapped_column(String(255))
    deactivate_on: Mapped[date | None] = mapped_column(Date, index=True)
    # The person's id in the HR system (Moodle idnumber, Canvas SIS id, SCIM externalId):
    # rosters match on it before the email, so an HR export can change someone's email.
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The name an identity provider knows the person by (SCIM userName, such as an Entra user
    # principal name) when it is not their email; lower-cased, as SCIM compares it ignoring case.
    scim_user_name: Mapped[str | None] = mapped_column(String(255))
    # When the identity provider deleted the person (SCIM DELETE): the account is deactivated
    # and kept, and SCIM no longer shows it, until the provider creates the same person again.
    scim_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    additional_info: Mapped[str] = mapped_column(Text, server_default="", default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session cookie (get_id): raising it ends all the person's sessions at once
    # (sign-out, a new password, deactivation), remembered ones too.
    session_version: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    # Set by an admin, a roster or a temporary password: every page asks for a new password
    # until the person has chosen one.
    must_change_password: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)

    label_rows: Mapped[list["UserLabel"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserLabel.label"
    )

    def __repr__(self):
        return f"<User {self.id} {self.email} {self.role.value}/{self.status.value}>"

    @property
    def labels(self) -> list[str]:
        return sorted((row.label for row in self.label_rows), key=str.casefold)

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def display_name(self) -> str:
        return self.full_name or self.email

    @property
    def is_active(self) -> bool:  # Flask-Login: only active accounts may sign in
        return self.status == UserStatus.active

    def get_id(self) -> str:  # Flask-Login keeps this in the session and the remember cookie
        return f"{self.id}.{self.session_version or 0}"

    def end_sessions(self):
        """Every session of this person, on every device, ends at its next request."""
        self.session_version = (self.session_version or 0) + 1

    def deactivation_has_come(self, today) -> bool:
        """R6: the deactivation date has come, whether or not the scheduler has run yet."""
        return self.deactivate_on is not None and self.deactivate_on <= today

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


class UserLabel(db.Model):
    """A short free-form tag on a user (roster column `labels`)."""

    __tablename__ = "user_labels"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)

    user: Mapped[User] = relationship(back_populates="label_rows")

    def __repr__(self):
        return f"<UserLabel {self.user_id} {self.label!r}>"


class PasswordReset(db.Model):
    """A Forgot password link: single-use, short-lived. As with invitations (R9), the row keeps
    a nonce and the token's hash; the token is derived from the nonce and SECRET_KEY when the
    email is rendered, so a copy of the database alone holds no working link."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_nonce: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def __repr__(self):
        return f"<PasswordReset {self.id} user={self.user_id} used={self.used_at is not None}>"
