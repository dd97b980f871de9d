"""Deactivating and reactivating accounts (R6).

Deactivation stops what other domains hold for the person (their pending invitation, their
unsent emails), so this module sits above accounts and invitations, and every door (the user
page, the scheduler, the command line) deactivates through it.
"""
from sqlalchemy import select, update

from lms.accounts.models import User, UserStatus
from lms.audit.services import record_event
from lms.clock import platform_today
from lms.enrollment.invitations.services import cancel_pending_invitations_of
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail
from lms.notifications.outbox import cancel_queued_emails


def _stop_everything_pending(user_ids, now):
    """R6: unsent emails to deactivated accounts are cancelled, and so are their invitations."""
    cancel_pending_invitations_of(user_ids, now=now)
    return cancel_queued_emails(OutboxEmail.user_id.in_(user_ids), reason="account deactivated")


def deactivate_user(user: User, *, actor, now):
    """R6: refuse sign-in from now on, end open sessions (next request), cancel unsent emails."""
    if actor is not None and user.id == actor.id:
        raise DomainError("You cannot deactivate your own account.")
    if user.status == UserStatus.deactivated:
        return False
    user.status = UserStatus.deactivated
    user.deactivated_at = now
    user.updated_at = now
    user.end_sessions()
    _stop_everything_pending([user.id], now)
    db.session.flush()
    record_event(actor, "user.deactivated", "user", user.id, now=now)
    return True


def reactivate_user(user: User, *, actor, now):
    """Undo a deactivation: active again if they had set a password, else back to invited."""
    if user.status != UserStatus.deactivated:
        return False
    user.status = UserStatus.active if user.password_hash else UserStatus.invited
    user.deactivated_at = None
    if user.deactivate_on is not None and user.deactivate_on <= platform_today(now):
        user.deactivate_on = None  # otherwise the scheduler would deactivate them again at once
    user.updated_at = now
    db.session.flush()
    record_event(actor, "user.reactivated", "user", user.id, now=now)
    return True


def deactivate_due_users(*, now) -> int:
    """R6, set-based: every account whose deactivation date has come is deactivated."""
    today = platform_today(now)
    due_ids = db.session.scalars(
        select(User.id).where(
            User.deactivate_on <= today, User.status != UserStatus.deactivated
        )
    ).all()
    if not due_ids:
        return 0
    db.session.execute(
        update(User)
        .where(User.id.in_(due_ids))
        .values(status=UserStatus.deactivated, deactivated_at=now, updated_at=now,
                session_version=User.session_version + 1)
    )
    _stop_everything_pending(due_ids, now)
    for user_id in due_ids:
        record_event(None, "user.deactivated", "user", user_id, now=now, reason="deactivate_on")
    db.session.flush()
    return len(due_ids)
