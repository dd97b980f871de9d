"""Audit trail: who did what to whom, and when."""
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.db_types import UTCDateTime
from lms.extensions import db

if TYPE_CHECKING:
    from lms.accounts.models import User


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_target_type_target_id", "target_type", "target_id"),
        Index("ix_audit_events_user_id_created_at", "user_id", "created_at"),
        Index("ix_audit_events_action_created_at", "action", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The person the event is about (the invitee of an invitation, the learner added to a
    # session, the user edited), whatever its target: each person's page lists their history.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    # Named, not imported: audit sits below the domains and imports none of them.
    actor: Mapped["User | None"] = relationship("User", foreign_keys=[actor_id])
    user: Mapped["User | None"] = relationship("User", foreign_keys=[user_id])

    def __repr__(self):
        return f"<AuditEvent {self.id} {self.action} {self.target_type}:{self.target_id}>"
