"""Forgot password: a single-use, short-lived link by email, and the new password it sets.

What a request does depends on the account, but the person asking always reads the same answer
(lms.accounts.views), so the form does not tell whether an address has an account:
- an active account gets a reset link (an earlier link still unused dies: only the newest works);
- a person still only invited gets their invitation again (R7), as that is how they set a
  password; one whose invitation was cancelled or declined gets nothing;
- a deactivated account, or none, gets nothing.
"""
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from lms.accounts.models import PasswordReset, User, UserStatus
from lms.accounts.services import find_user_by_email, hash_password, normalize_email_or_none
from lms.audit.services import record_event
from lms.clock import platform_today
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import resend_invitations
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail
from lms.notifications.outbox import cancel_queued_emails, queue_email
from lms.tokens import hash_token, new_token

MAX_TOKEN_LENGTH = 200


def reset_lifetime() -> timedelta:
    return timedelta(minutes=current_app.config["LMS_PASSWORD_RESET_MINUTES"])


def request_password_reset(email, *, now, actor=None) -> str:
    """Act on a Forgot password request for `email`, by the person or by an admin (`actor`, on
    the user's page); returns what was done ("reset", "invitation", "nothing"), which the
    person asking is never shown."""
    address = normalize_email_or_none(email)
    user = find_user_by_email(address) if address else None
    if user is None or user.status == UserStatus.deactivated or user.deactivation_has_come(platform_today(now)):
        return "nothing"
    if user.status == UserStatus.invited:
        return "invitation" if _send_invitation_again(user, actor=actor or user, now=now) else "nothing"
    _end_open_resets(user.id, now=now)
    nonce, _, token_hash = new_token()
    reset = PasswordReset(user_id=user.id, token_nonce=nonce, token_hash=token_hash, created_at=now,
                          expires_at=now + reset_lifetime())
    db.session.add(reset)
    db.session.flush()
    queue_email(now=now, recipient=user.email, user_id=user.id, kind="password_reset", language=user.language,
                context={"reset_id": reset.id}, dedupe_key=f"password_reset:{reset.id}")
    record_event(actor or user, "user.password_reset_requested", "user", user.id, now=now)
    return "reset"


def _send_invitation_again(user, *, actor, now) -> bool:
    """The invitee's newest invitation, sent again with a new link, when it is still theirs to
    use (pending or expired); not one an admin cancelled or the person declined."""
    invitation = db.session.scalar(select(Invitation).where(Invitation.user_id == user.id)
                                   .order_by(Invitation.sent_at.desc(), Invitation.id.desc()).limit(1))
    if invitation is None or invitation.status not in (InvitationStatus.pending, InvitationStatus.expired):
        return False
    resent, _ = resend_invitations([invitation], actor=actor, now=now)
    return bool(resent)


def _end_open_resets(user_id, *, now):
    """Earlier links of this person die (they may sit in a mailbox someone else reads), with
    their emails still waiting."""
    open_ids = db.session.scalars(select(PasswordReset.id).where(
        PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None), PasswordReset.expires_at > now)).all()
    if not open_ids:
        return
    db.session.execute(update(PasswordReset).where(PasswordReset.id.in_(open_ids)).values(expires_at=now)
                       .execution_options(synchronize_session=False))
    cancel_queued_emails(OutboxEmail.kind == "password_reset", OutboxEmail.user_id == user_id,
                         reason="a newer reset link was asked for")


def find_password_reset(token, *, now) -> PasswordReset | None:
    """The reset a link's token names, while it can still be used: unused, not expired, for an
    account that is active; else None (the page says the link no longer works)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.token_hash == hash_token(token)))
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        return None
    user = reset.user
    if user.status != UserStatus.active or user.deactivation_has_come(platform_today(now)):
        return None
    return reset


def reset_password(reset: PasswordReset, *, password, now) -> User:
    """Set the new password through `reset`, once: the link dies, every other link of the person
    too, and every session of theirs ends (a thief signed in with the old password is out)."""
    password_hash = hash_password(password)
    claimed = db.session.execute(
        update(PasswordReset).where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None),
                                    PasswordReset.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if not claimed:  # a second click, or another tab, used it a moment ago
        raise DomainError(_l("This link was just used. Sign in with your new password, or ask for a new link."))
    user = reset.user
    _end_open_resets(user.id, now=now)
    user.password_hash = password_hash
    user.must_change_password = False
    user.end_sessions()
    user.updated_at = now
    record_event(user, "user.password_reset", "user", user.id, now=now)
    db.session.flush()
    return user

