"""Invitations to the platform: invite, resend, cancel, remind, expire, accept, decline (R1, R7-R9).

An invited person is a User with status `invited` and one pending Invitation. They are put in
their groups at once (so sessions list them, R4); accepting sets their password and applies
the invited role. Tokens: lms.tokens (only a hash is stored, R9).
"""
import re
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from lms.accounts.models import Role, User, UserStatus
from lms.accounts.passwords import generate_temporary_password
from lms.accounts.services import (
    check_deactivation_date,
    check_language,
    create_user,
    hash_password,
    normalize_email,
)
from lms.audit.services import record_event, record_events
from lms.db_utils import among, chunked, insert_rows
from lms.enrollment.groups.models import Group
from lms.enrollment.groups.services import add_group_members
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail, UserNotice
from lms.notifications.outbox import cancel_queued_emails, queue_emails
from lms.notifications.sealed import sealed_password
from lms.programs.cascade import enroll, withdraw_everything_of
from lms.programs.models import ProgramSession
from lms.tokens import hash_token, new_token

MAX_EMAILS_AT_ONCE = 1000
_ENTRIES = re.compile(r"[,;\r\n]+")  # between entries; within one, spaces too separate addresses
_BRACKETED = re.compile(r"<([^<>]*)>")  # "James Smith <james@x.com>": the address, not the name


@dataclass
class EmailList:
    emails: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (what was typed, why)
    repeated: list[str] = field(default_factory=list)  # typed again: invited once, not an error


def parse_email_list(text: str) -> EmailList:
    """Addresses separated by commas, semicolons, spaces or new lines; duplicates and invalid
    ones are set aside with their reason. Also accepts `Name <address>` as mail clients copy it."""
    result = EmailList()
    seen = set()
    typed = list(_typed_addresses(text or ""))
    if len(typed) > MAX_EMAILS_AT_ONCE:  # before validating any: each costs
        raise DomainError(f"At most {MAX_EMAILS_AT_ONCE:,} addresses at once; this list has {len(typed):,}.",
                          field="emails")
    for raw in typed:
        try:
            email = normalize_email(raw)
        except DomainError:
            result.rejected.append((raw, "not a valid email address"))
            continue
        if email in seen:
            result.repeated.append(email)
            continue
        seen.add(email)
        result.emails.append(email)
    return result


def _typed_addresses(text):
    """The addresses as typed, in one pass over the text (no backtracking): in each entry, the
    words after the last bracketed address, and the bracketed ones without their names."""
    for entry in _ENTRIES.split(text):
        pieces = _BRACKETED.split(entry)  # text, address, text, address, ..., text
        for index, piece in enumerate(pieces):
            if index % 2:
                if piece.strip():
                    yield piece.strip()
            elif index == len(pieces) - 1:
                yield from piece.split()


@dataclass
class InviteOutcome:
    invited: list[str] = field(default_factory=list)
    already_members: list[str] = field(default_factory=list)  # existing accounts, added (R1)
    already_invited: list[str] = field(default_factory=list)  # a pending invitation exists
    rejected: list[tuple[str, str]] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)  # typed more than once (handled once)
    invitations: list[Invitation] = field(default_factory=list)
    group_names: list[str] = field(default_factory=list)  # the groups chosen

    def as_dict(self):
        return {
            "invited": self.invited,
            "already_members": self.already_members,
            "already_invited": self.already_invited,
            "rejected": [{"email": email, "reason": reason} for email, reason in self.rejected],
            "repeated": self.repeated,
        }

    def include_typing(self, parsed: EmailList):
        """What the address list itself set aside: invalid addresses and repeats."""
        self.rejected[:0] = parsed.rejected
        self.repeated = parsed.repeated

    def summary(self) -> str:
        """One sentence a person reads after inviting, true to what happened."""
        groups = ", ".join(self.group_names)
        parts = [f"Invited {len(self.invited)}"]
        if self.already_members:
            count = len(self.already_members)
            had = f"{count} already had an account"
            parts.append(f"{had} and {'was' if count == 1 else 'were'} added to {groups}" if groups
                         else f"{had} (nothing to do: no group was chosen)")
        if self.already_invited:
            parts.append(f"{len(self.already_invited)} already invited"
                         + (f" (added to {groups})" if groups else ""))
        if self.repeated:
            parts.append(f"{len(self.repeated)} typed twice (counted once)")
        if self.rejected:
            parts.append(f"{len(self.rejected)} rejected")
        return "; ".join(parts) + "."



def expiry_for(now):
    return now + timedelta(days=current_app.config["LMS_INVITATION_EXPIRY_DAYS"])


def _load_groups(group_ids):
    group_ids = list(dict.fromkeys(group_ids))
    groups = db.session.scalars(select(Group).where(Group.id.in_(group_ids))).all()
    if len(groups) != len(group_ids):
        raise DomainError("One of the chosen groups no longer exists.", field="groups")
    return sorted(groups, key=lambda group: group.name_key)


def _users_by_email(emails):
    users = {}
    for batch in chunked(emails):
        users.update((user.email, user) for user in db.session.scalars(select(User).where(User.email.in_(batch))))
    return users


def pending_invitation_user_ids(user_ids) -> set[int]:
    """Those of these people who have a pending invitation."""
    pending = set()
    for batch in chunked(user_ids):
        pending.update(
            db.session.scalars(
                select(Invitation.user_id).where(
                    Invitation.user_id.in_(batch), Invitation.status == InvitationStatus.pending
                )
            )
        )
    return pending


def invite_people(
    emails,
    *,
    actor,
    now,
    role=Role.learner,
    group_ids=(),
    deactivate_on=None,
    language=None,
    message="",
    send_email=True,
) -> InviteOutcome:
    """Invite each email to the platform (and the groups), following R1 for existing accounts.

    Set-based: a handful of statements whatever the number of addresses (up to 1,000).
    """
    role = Role(role)
    language = check_language(language or current_app.config["LMS_DEFAULT_LANGUAGE"])
    check_deactivation_date(deactivate_on, now=now)
    groups = _load_groups(group_ids)
    message = (message or "").strip()
    outcome = InviteOutcome(group_names=[group.name for group in groups])
    existing = _users_by_email(emails)
    pending_ids = pending_invitation_user_ids([user.id for user in existing.values()])

    new_emails = [email for email in emails if email not in existing]
    _insert_invited_users(new_emails, role=role, language=language, deactivate_on=deactivate_on, now=now)
    created = _users_by_email(new_emails)

    to_invite: list[User] = []
    members: list[User] = []
    for email in emails:
        user = existing.get(email)
        if user is None:
            user = created[email]
            to_invite.append(user)
            outcome.invited.append(email)
        elif user.status == UserStatus.deactivated:
            outcome.rejected.append((email, "this account is deactivated; reactivate it first"))
            continue
        elif user.status == UserStatus.active:
            outcome.already_members.append(email)
        elif user.id in pending_ids:
            outcome.already_invited.append(email)
        else:  # invited before, but that invitation expired, was declined or cancelled
            user.role, user.language, user.updated_at = role, language, now
            to_invite.append(user)
            outcome.invited.append(email)
        members.append(user)
    db.session.flush()

    group_names = [group.name for group in groups]
    returning = [user for user in to_invite if user.email in existing]
    restore_withdrawn(_withdrawn_by_last_invitation(returning), actor=actor, now=now, send_email=send_email)
    outcome.invitations = issue_invitations(
        to_invite, actor=actor, now=now, role=role, language=language, message=message,
        send_email=send_email, group_names=group_names,
    )
    for group in groups:
        add_group_members(group, [user.id for user in members], actor=actor, now=now, send_email=send_email)
    if groups:
        tell_existing_members(
            [user for user in members if user.email in set(outcome.already_members)],
            group_names, actor=actor, now=now, send_email=send_email,
        )
    db.session.flush()
    return outcome


def invite_typed(text, *, actor, now, **options) -> InviteOutcome:
    """Invite the addresses as a person typed or pasted them (parse_email_list), with what the
    list itself set aside in the outcome; refused when not one address in it is valid."""
    parsed = parse_email_list(text)
    if not parsed.emails:
        raise DomainError("None of these is a valid email address.", field="emails")
    outcome = invite_people(parsed.emails, actor=actor, now=now, **options)
    outcome.include_typing(parsed)
    return outcome


def _insert_invited_users(emails, *, role, language, deactivate_on, now):
    """New accounts in `invited` status, inserted in batches (executemany, no per-row round trip)."""
    rows = [
        {"email": email, "role": role, "status": UserStatus.invited, "language": language,
         "deactivate_on": deactivate_on, "first_name": "", "last_name": "", "additional_info": "",
         "created_at": now, "updated_at": now}
        for email in emails
    ]
    insert_rows(User, rows)


def issue_invitations(users, *, actor, now, role, language, message, send_email, group_names,
                       invite_link_id=None, objects=True):
    """One pending invitation per user, their emails and audit events: a few statements a batch.
    `users` need only an id and an email. Returns the invitations: ORM objects, or with
    objects=False (a bulk import, which reads none of them) plain rows of their id, user_id,
    language and token_hash, several times cheaper to read back than objects."""
    if not users:
        return []
    rows = []
    for user in users:
        nonce, _, token_hash = new_token()
        rows.append({
            "user_id": user.id, "role": role, "language": language, "message": message,
            "invited_by_id": actor.id if actor else None, "invite_link_id": invite_link_id,
            "token_nonce": nonce, "token_hash": token_hash, "send_email": send_email,
            # When its email was queued; none when sent without email (the list reads the outbox).
            "sent_at": now if send_email else None,
            "status": InvitationStatus.pending, "expires_at": expiry_for(now),
            "created_at": now, "updated_at": now,
        })
    invitations = []
    for batch in chunked(rows):
        insert_rows(Invitation, batch)
        hashes = [row["token_hash"] for row in batch]
        if objects:
            invitations += db.session.scalars(select(Invitation).where(Invitation.token_hash.in_(hashes))).all()
        else:
            invitations += db.session.execute(
                select(Invitation.id, Invitation.user_id, Invitation.language, Invitation.token_hash)
                .where(among(Invitation.token_hash, hashes))).all()
    email_of = {user.id: user.email for user in users}
    invitations.sort(key=lambda invitation: invitation.id)
    if send_email:
        queue_emails(
            [_invitation_email(invitation, email_of[invitation.user_id], "invitation", group_names)
             for invitation in invitations],
            now=now,
        )
    record_events(actor, "invitation.created", "invitation", [inv.id for inv in invitations],
                  now=now, details={"role": role.value}, person_ids=[inv.user_id for inv in invitations])
    return invitations


def _invitation_email(invitation, recipient, kind, group_names=None):
    context = {"invitation_id": invitation.id}
    if group_names is not None:
        context["group_names"] = group_names
    return {
        "recipient": recipient,
        "user_id": invitation.user_id,
        "invitation_id": invitation.id,
        "kind": kind,
        "language": invitation.language,
        "context": context,
        # One email per token: a resend (new token) is a new email, a repeat is not.
        "dedupe_key": f"{kind}:{invitation.id}:{invitation.token_hash[:16]}",
    }


def tell_existing_members(users, group_names, *, actor, now, send_email):
    """R1: people who already have an account are told in the app, and by email if asked."""
    if not users:
        return
    inviter = actor.display_name if actor else None
    context = {"group_names": group_names, "inviter_name": inviter}
    insert_rows(UserNotice, [{"user_id": user.id, "kind": "added_to_groups", "context": context,
                              "created_at": now} for user in users])
    if send_email:
        stamp = now.strftime("%Y%m%dT%H%M%S.%f")
        queue_emails(
            [{"recipient": user.email, "user_id": user.id, "kind": "added_to_groups",
              "language": user.language, "context": context,
              "dedupe_key": f"added_to_groups:{user.id}:{stamp}"} for user in users],
            now=now,
        )


def set_account(
    email, *, actor, now, first_name, last_name, password=None, role=Role.learner, group_ids=(),
    deactivate_on=None, language=None, send_email=True, include_password=False,
    generate_password=False, must_change_password=False,
) -> User:
    """Create an active account with a password chosen by the admin ("Set an account"), or
    with a temporary password generated here (`generate_password`), which the email carries
    and the person must change at first sign-in.

    The email carries a sign-in link; the password only if the admin asked for it, sealed in
    the outbox (lms.notifications.sealed) and erased once the email is sent or cancelled.
    """
    if generate_password:
        if not send_email:
            raise DomainError("A generated password reaches the person only by email: keep Send the email on.",
                              field="send_email")
        password, include_password, must_change_password = generate_temporary_password(), True, True
    elif not password:
        raise DomainError("Enter the password, or choose to generate one.", field="password")
    groups = _load_groups(group_ids)
    user = create_user(
        email, now=now, actor=actor, first_name=first_name, last_name=last_name, role=role,
        status=UserStatus.active, password=password or "", language=language,
        deactivate_on=deactivate_on,
    )
    user.must_change_password = bool(must_change_password)
    for group in groups:
        add_group_members(group, [user.id], actor=actor, now=now)
    if send_email:
        context = {"group_names": [group.name for group in groups],
                   "inviter_name": actor.display_name if actor else None,
                   "must_change": user.must_change_password}
        if include_password:
            context.update(sealed_password(password))
        queue_emails([{"recipient": user.email, "user_id": user.id, "kind": "account_created",
                       "language": user.language, "context": context,
                       "dedupe_key": f"account_created:{user.id}"}], now=now)
    record_event(actor, "user.password_set", "user", user.id, now=now,
                 generated=bool(generate_password), emailed=bool(send_email and include_password),
                 must_change=user.must_change_password)
    return user


def find_invitation(token: str) -> Invitation | None:
    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))


def effective_status(invitation: Invitation, now) -> InvitationStatus:
    """The status a person sees: a pending invitation past its expiry is expired already,
    even before the scheduler has marked it."""
    if invitation.status == InvitationStatus.pending and invitation.expires_at <= now:
        return InvitationStatus.expired
    return invitation.status


def _claim(invitation, now, new_status):
    """Move a pending, unexpired invitation to `new_status`, atomically: of two concurrent
    clicks only one wins, and a used token cannot be used again."""
    changed = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.status == InvitationStatus.pending,
               Invitation.expires_at > now)
        .values(status=new_status, responded_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        db.session.refresh(invitation)
        raise DomainError(DEAD_INVITATION_MESSAGES[effective_status(invitation, now)])
    db.session.refresh(invitation)


DEAD_INVITATION_MESSAGES = {
    InvitationStatus.accepted: "This invitation has already been used.",
    InvitationStatus.declined: "This invitation was declined.",
    InvitationStatus.cancelled: "This invitation was cancelled.",
    InvitationStatus.expired: "This invitation has expired.",
    InvitationStatus.pending: "This invitation cannot be used right now.",
}


def accept_invitation(invitation, *, first_name, last_name, password, now) -> User:
    """R8: registering through the invitation sets names and password and applies the role."""
    password_hash = hash_password(password)
    first_name, last_name = first_name.strip(), last_name.strip()
    if not first_name or not last_name:
        raise DomainError(_l("Enter your first and last name."), field="first_name" if not first_name else "last_name")
    if invitation.user.status == UserStatus.deactivated:
        raise DomainError(_l("This account has been deactivated. Ask your administrator to reactivate it."))
    _claim(invitation, now, InvitationStatus.accepted)
    user = invitation.user
    user.first_name, user.last_name = first_name, last_name
    user.password_hash = password_hash
    user.must_change_password = False  # the password is the person's own
    user.role = invitation.role
    user.status = UserStatus.active
    user.updated_at = now
    cancel_queued_emails(OutboxEmail.invitation_id == invitation.id, reason="invitation accepted")
    record_event(user, "invitation.accepted", "invitation", invitation.id, now=now,
                 person_id=invitation.user_id)
    db.session.flush()
    return user


def decline_invitation(invitation, *, now):
    """The invitee says no: nothing more is sent to them."""
    _claim(invitation, now, InvitationStatus.declined)
    cancel_queued_emails(OutboxEmail.user_id == invitation.user_id, reason="invitation declined")
    _withdraw([invitation], now=now)
    record_event(None, "invitation.declined", "invitation", invitation.id, now=now,
                 user_id=invitation.user_id)
    db.session.flush()


RESENDABLE = (InvitationStatus.pending, InvitationStatus.expired, InvitationStatus.cancelled,
              InvitationStatus.declined)


def resend_invitations(invitations, *, actor, now) -> tuple[list[Invitation], list[tuple[Invitation, str]]]:
    """R7: a new token (the old link dies), a new expiry, the email again. Returns (resent, refused)."""
    resent, refused = [], []
    pending_elsewhere = pending_invitation_user_ids([inv.user_id for inv in invitations])
    for invitation in invitations:
        if invitation.status not in RESENDABLE:
            refused.append((invitation, f"already {invitation.status.value}"))
            continue
        if invitation.status != InvitationStatus.pending and invitation.user_id in pending_elsewhere:
            refused.append((invitation, "a newer invitation is pending"))
            continue
        if invitation.user.status != UserStatus.invited:
            refused.append((invitation, f"the account is {invitation.user.status.value}"))
            continue
        cancel_queued_emails(OutboxEmail.invitation_id == invitation.id, reason="invitation resent")
        nonce, _, token_hash = new_token()
        invitation.token_nonce, invitation.token_hash = nonce, token_hash
        invitation.status = InvitationStatus.pending
        invitation.sent_at, invitation.expires_at = now, expiry_for(now)
        invitation.reminder_sent_at = invitation.responded_at = invitation.cancelled_at = None
        invitation.send_email = True
        invitation.updated_at = now
        resent.append(invitation)
    db.session.flush()
    restore_withdrawn({inv.user_id: _take_withdrawn(inv) for inv in resent if inv.withdrawn},
                      actor=actor, now=now, send_email=True)
    queue_emails([_invitation_email(inv, inv.user.email, "invitation") for inv in resent], now=now)
    for invitation in resent:
        record_event(actor, "invitation.resent", "invitation", invitation.id, now=now,
                         person_id=invitation.user_id)
    return resent, refused


def cancel_invitations(invitations, *, actor, now) -> tuple[list[Invitation], list[tuple[Invitation, str]]]:
    """Cancel pending invitations: the link dies and unsent emails are not sent."""
    cancelled, refused = [], []
    for invitation in invitations:
        if invitation.status != InvitationStatus.pending:
            refused.append((invitation, f"already {invitation.status.value}"))
            continue
        invitation.status = InvitationStatus.cancelled
        invitation.cancelled_at = invitation.updated_at = now
        cancel_queued_emails(OutboxEmail.user_id == invitation.user_id, reason="invitation cancelled")
        record_event(actor, "invitation.cancelled", "invitation", invitation.id, now=now,
                         person_id=invitation.user_id)
        cancelled.append(invitation)
    db.session.flush()
    _withdraw(cancelled, now=now)
    return cancelled, refused


def _withdraw(invitations, *, now):
    """R12: a cancelled or declined invitation takes back what it brought from someone who never
    registered: their groups and pending sessions (and those emails); it remembers them so that
    inviting again puts them back."""
    invitations = [inv for inv in invitations if inv.user.status == UserStatus.invited]
    withdrawn = withdraw_everything_of([inv.user_id for inv in invitations], now=now)
    for invitation in invitations:
        taken = withdrawn[invitation.user_id]
        invitation.withdrawn = taken if taken["group_ids"] or taken["session_ids"] else None
        if invitation.withdrawn:
            record_event(None, "invitation.withdrew", "invitation", invitation.id, now=now,
                         user_id=invitation.user_id, **taken)
    db.session.flush()


def _take_withdrawn(invitation):
    withdrawn, invitation.withdrawn = invitation.withdrawn, None
    return withdrawn


def _withdrawn_by_last_invitation(users) -> dict[int, dict]:
    """{user id: what their latest invitation withdrew}, taken off it (it is put back once)."""
    latest = {}
    for batch in chunked([user.id for user in users]):
        for invitation in db.session.scalars(select(Invitation).where(Invitation.user_id.in_(batch))
                                             .order_by(Invitation.id)):
            latest[invitation.user_id] = invitation
    return {user_id: _take_withdrawn(inv) for user_id, inv in latest.items() if inv.withdrawn}


def restore_withdrawn(withdrawn_by_user, *, actor, now, send_email):
    """R12: inviting again puts people back in the groups (so in their ongoing and future
    sessions, R2) and the sessions they had been added to directly, with those emails queued
    again. Groups deleted and sessions ended meanwhile are left out."""
    by_group, by_session = {}, {}
    for user_id, withdrawn in withdrawn_by_user.items():
        for group_id in withdrawn.get("group_ids", []):
            by_group.setdefault(group_id, []).append(user_id)
        for session_id in withdrawn.get("session_ids", []):
            by_session.setdefault(session_id, []).append(user_id)
    for group in db.session.scalars(select(Group).where(Group.id.in_(list(by_group)))):
        add_group_members(group, by_group[group.id], actor=actor, now=now, send_email=send_email)
    for session in db.session.scalars(select(ProgramSession).where(ProgramSession.id.in_(list(by_session)))):
        if session.archived_at is None and (session.ends_at is None or session.ends_at > now):
            enroll(session, by_session[session.id], now=now, direct=True, send_email=send_email)


def withdrawal_preview(user_ids, *, now) -> dict[int, tuple[list[str], int]]:
    """{user id: (their group names, how many pending session invitations)}: what cancelling
    their invitation would take back, for the page to say before it is done."""
    from lms.enrollment.groups.services import group_names_by_user
    from lms.programs.cascade import pending_session_counts

    names = group_names_by_user(user_ids)
    counts = pending_session_counts(user_ids, now=now)
    return {user_id: (names.get(user_id, []), counts.get(user_id, 0)) for user_id in user_ids}


def cancel_pending_invitations_of(user_ids, *, now) -> int:
    """A deactivated account's pending invitation dies with it (its link says "cancelled")."""
    cancelled = 0
    for batch in chunked(user_ids):
        cancelled += db.session.execute(
            update(Invitation)
            .where(Invitation.user_id.in_(batch), Invitation.status == InvitationStatus.pending)
            .values(status=InvitationStatus.cancelled, cancelled_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    return cancelled


def expire_due_invitations(*, now) -> int:
    """R7: pending invitations past their expiry become expired (and their reminders unsent)."""
    due = db.session.scalars(
        select(Invitation.id).where(Invitation.status == InvitationStatus.pending,
                                    Invitation.expires_at <= now)
    ).all()
    for batch in chunked(due):
        db.session.execute(
            update(Invitation).where(Invitation.id.in_(batch))
            .values(status=InvitationStatus.expired, updated_at=now)
        )
        cancel_queued_emails(OutboxEmail.invitation_id.in_(batch), reason="invitation expired")
    return len(due)


def send_due_reminders(*, now) -> int:
    """R7: one reminder, `LMS_INVITATION_REMINDER_DAYS` after sending, while still pending."""
    reminder_after = timedelta(days=current_app.config["LMS_INVITATION_REMINDER_DAYS"])
    rows = db.session.execute(
        select(Invitation, User.email)
        .join(User, User.id == Invitation.user_id)
        .where(
            Invitation.status == InvitationStatus.pending,
            Invitation.send_email.is_(True),
            Invitation.reminder_sent_at.is_(None),
            Invitation.sent_at <= now - reminder_after,
            Invitation.expires_at > now,
        )
    ).all()
    if not rows:
        return 0
    queue_emails([_invitation_email(inv, email, "invitation_reminder") for inv, email in rows], now=now)
    for batch in chunked([inv.id for inv, _ in rows]):
        db.session.execute(
            update(Invitation).where(Invitation.id.in_(batch))
            .values(reminder_sent_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(rows)
