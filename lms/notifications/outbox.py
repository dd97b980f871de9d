"""Queueing emails: a row in the same transaction as the change that causes it (R10)."""
from sqlalchemy import update

from lms.db_utils import insert_ignoring_conflicts
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus


def queue_emails(rows, *, now) -> None:
    """Queue many emails at once. Each row gives recipient, kind, language, context, dedupe_key
    and optionally user_id, due_at (default now), invitation_id, enrollment_id.

    A row whose dedupe_key is already queued or sent is skipped: the same email is never
    queued twice, however often the cause is repeated.
    """
    insert_ignoring_conflicts(
        OutboxEmail,
        [
            {
                "user_id": None,
                "invitation_id": None,
                "enrollment_id": None,
                **row,
                "due_at": row.get("due_at") or now,
                "next_attempt_at": row.get("due_at") or now,
                "status": OutboxStatus.queued,
                "attempts": 0,
                "created_at": now,
            }
            for row in rows
        ],
    )


def queue_email(*, now, **row) -> None:
    queue_emails([row], now=now)


def cancel_queued_emails(*conditions, reason: str) -> int:
    """Cancel the unsent emails matching `conditions` (e.g. OutboxEmail.invitation_id == 3).

    A cancelled email is never rendered, so its context (which may hold a password the admin
    chose to send) is emptied.
    """
    return db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.status == OutboxStatus.queued, *conditions)
        .values(status=OutboxStatus.cancelled, last_error=f"cancelled: {reason}",
                locked_by=None, context={})
        .execution_options(synchronize_session=False)
    ).rowcount


def retry_email(email: OutboxEmail, *, now) -> bool:
    """Put a failed email back in the queue, due now, with its attempts counted from zero."""
    if email.status != OutboxStatus.failed:
        return False
    email.status = OutboxStatus.queued
    email.attempts = 0
    email.last_error = None
    email.next_attempt_at = now
    email.locked_by = None
    return True
