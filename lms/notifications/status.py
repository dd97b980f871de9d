"""What became of an email, as a page tells it: the outbox row is the truth (R10).

Pages that say "sent" or "due" read it here rather than from their own dates, so an email held
for want of a mail server, or one that failed, never shows as sent or as due in the past.
"""
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select

from lms.db_utils import chunked
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus


@dataclass(frozen=True)
class EmailState:
    word: str  # sent, due, sending, held, retrying, failed, cancelled
    at: datetime | None = None  # when it went, or when it is due
    reason: str = ""

    @property
    def waiting(self) -> bool:
        """Still to go: a trainer may send it now."""
        return self.word in ("due", "held", "retrying", "sending")


def email_state(email: OutboxEmail | None, *, now) -> EmailState | None:
    if email is None:
        return None
    if email.status == OutboxStatus.sent:
        return EmailState("sent", email.sent_at)
    if email.status == OutboxStatus.failed:
        return EmailState("failed", reason=email.last_error or "")
    if email.status == OutboxStatus.cancelled:
        return EmailState("cancelled", reason=(email.last_error or "").removeprefix("cancelled: "))
    no_server = not current_app.config.get("MAIL_SERVER")
    if email.due_at > now:
        return EmailState("due", email.due_at, reason="no mail server yet (set MAIL_SERVER)" if no_server else "")
    if no_server:
        return EmailState("held", email.due_at, reason="no mail server (set MAIL_SERVER)")
    if email.last_error:
        return EmailState("retrying", email.next_attempt_at, reason=email.last_error)
    return EmailState("sending", email.due_at)


def latest_email_states(column, ids, *, kinds, now) -> dict[int, EmailState]:
    """{id: the state of the latest email of these kinds about it}, e.g. column
    OutboxEmail.invitation_id for invitations, in one query per 1,000 ids."""
    latest = {}
    for batch in chunked(sorted(set(ids))):
        newest = (select(func.max(OutboxEmail.id)).where(column.in_(batch), OutboxEmail.kind.in_(kinds))
                  .group_by(column))
        for email in db.session.scalars(select(OutboxEmail).where(OutboxEmail.id.in_(newest))):
            latest[getattr(email, column.key)] = email_state(email, now=now)
    return latest
