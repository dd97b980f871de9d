"""Programs, their sessions, and who is registered to each session."""
import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.db_types import UTCDateTime, enum_type
from lms.extensions import db


class Program(db.Model):
    """A training program: the template that sessions are run from."""

    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, server_default="", default="")
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    owner: Mapped[User | None] = relationship()
    sessions: Mapped[list["ProgramSession"]] = relationship(
        back_populates="program", order_by="ProgramSession.starts_at"
    )

    def __repr__(self):
        return f"<Program {self.id} {self.title!r}>"


class SessionState(enum.StrEnum):
    upcoming = "upcoming"
    ongoing = "ongoing"
    ended = "ended"


class ProgramSession(db.Model):
    """One run of a program, with dates and trainers (DESIGN calls it a Session)."""

    __tablename__ = "program_sessions"
    __table_args__ = (
        CheckConstraint("ends_at IS NULL OR ends_at >= starts_at", name="ends_after_start"),
        Index("ix_program_sessions_program_id_starts_at", "program_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    program: Mapped[Program] = relationship(back_populates="sessions")
    trainers: Mapped[list[User]] = relationship(secondary="session_trainers")

    def __repr__(self):
        return f"<ProgramSession {self.id} {self.name!r} {self.starts_at:%Y-%m-%d}>"

    def state(self, now: datetime) -> SessionState:
        if now < self.starts_at:
            return SessionState.upcoming
        if self.ends_at is not None and now >= self.ends_at:
            return SessionState.ended
        return SessionState.ongoing


class SessionTrainer(db.Model):
    __tablename__ = "session_trainers"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("program_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    def __repr__(self):
        return f"<SessionTrainer session={self.session_id} user={self.user_id}>"


class SessionGroup(db.Model):
    """A group assigned to a session's registration (R3)."""

    __tablename__ = "session_groups"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("program_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def __repr__(self):
        return f"<SessionGroup session={self.session_id} group={self.group_id}>"


class EnrollmentStatus(enum.StrEnum):
    invited = "invited"
    accepted = "accepted"
    declined = "declined"
    cancelled = "cancelled"


class Enrollment(db.Model):
    """One user's place in one session. Sources: `is_direct` and the groups in EnrollmentGroup."""

    __tablename__ = "enrollments"
    __table_args__ = (
        db.UniqueConstraint("session_id", "user_id"),
        Index("ix_enrollments_user_id_status", "user_id", "status"),
        Index("ix_enrollments_session_id_status", "session_id", "status"),  # a session page's counts
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("program_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[EnrollmentStatus] = mapped_column(
        enum_type(EnrollmentStatus, "status"),
        server_default=EnrollmentStatus.invited.value,
        default=EnrollmentStatus.invited,
    )
    is_direct: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    token_nonce: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    email_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
    session: Mapped[ProgramSession] = relationship()

    def __repr__(self):
        return f"<Enrollment {self.id} session={self.session_id} user={self.user_id} {self.status.value}>"


class EnrollmentGroup(db.Model):
    """A group through which an enrollment came (R5 cancels when the last source goes)."""

    __tablename__ = "enrollment_groups"

    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    def __repr__(self):
        return f"<EnrollmentGroup enrollment={self.enrollment_id} group={self.group_id}>"
