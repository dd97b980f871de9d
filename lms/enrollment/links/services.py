"""Invite links: a shareable URL (and its QR code) to join the platform, a group or a session.

Anyone holding a live link may join: not revoked, not expired, not used up, the session not
over and, when the link names a domain, with an address at that domain. People who already
have an account join at once (R1); newcomers fill in a short form and confirm their address
through an emailed link, and only then is their account created (LinkSignup).

Uses are counted by one conditional UPDATE, so concurrent joins never pass the maximum (the
row lock on PostgreSQL, the database's write lock on SQLite), and a person counts once
however often they join (InviteLinkUse is unique per link and user). Joining a group or a
session cascades as any addition does (R2-R4).
"""
import enum
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import selectinload

from lms.accounts.models import Role, User, UserStatus
from lms.accounts.services import (
    check_language,
    find_user_by_email,
    hash_password,
    normalize_email,
)
from lms.audit.services import record_event
from lms.clock import LATEST_DATE, platform_today, start_of_day
from lms.db_utils import chunked
from lms.enrollment.groups.services import add_group_members
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.links.models import InviteLink, InviteLinkTarget, InviteLinkUse, LinkSignup
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail
from lms.notifications.outbox import cancel_queued_emails, queue_emails
from lms.notifications.render import Links
from lms.programs import cascade
from lms.programs.models import Enrollment, EnrollmentStatus, ProgramSession
from lms.programs.access import can_manage_session, managed_session_ids
from lms.programs.services import group_ids_of_trained_sessions, session_lines
from lms.tokens import hash_token, new_token, token_from_nonce

MAX_USES_LIMIT = 100_000
SIGNUP_VALIDITY = timedelta(hours=48)


class LinkState(enum.StrEnum):
    live = "live"
    revoked = "revoked"
    expired = "expired"
    exhausted = "exhausted"
    ended = "ended"  # the session is over (or archived)


DEAD_LINK_MESSAGES = {
    LinkState.revoked: _l("This link has been switched off by the person who shared it."),
    LinkState.expired: _l("This link has expired."),
    LinkState.exhausted: _l("This link has already been used as many times as it allows."),
    LinkState.ended: _l("The session this link is for is over."),
}


# --- Creating and managing links (admins and managers) -------------------------------------

def may_share(user, target, *, group=None, session=None) -> bool:
    """Admins share anything; managers the groups of the sessions they train and the sessions
    they manage (lms.programs.access); learners nothing."""
    if user.role == Role.admin:
        return True
    if user.role != Role.manager:
        return False
    if target == InviteLinkTarget.group:
        return group is not None and group.id in group_ids_of_trained_sessions(user)
    if target == InviteLinkTarget.session:
        return session is not None and can_manage_session(user, session)
    return False


def may_manage(user, link) -> bool:
    """Who may see a link's page, revoke it or enable it again."""
    if user.role == Role.admin or link.created_by_id == user.id:
        return True
    return link.role == Role.learner and may_share(user, link.target, group=link.group, session=link.session)


def links_for(user):
    """The links a person may manage, newest first, with what each row of the list shows
    (target, its program, creator) loaded in a few queries rather than three per link."""
    query = select(InviteLink).order_by(InviteLink.created_at.desc(), InviteLink.id.desc()).options(
        selectinload(InviteLink.group), selectinload(InviteLink.created_by),
        selectinload(InviteLink.session).selectinload(ProgramSession.program))
    if user.role != Role.admin:
        query = query.where(or_(
            InviteLink.created_by_id == user.id,
            and_(InviteLink.role == Role.learner,
                 or_(InviteLink.group_id.in_(list(group_ids_of_trained_sessions(user))),
                     InviteLink.session_id.in_(managed_session_ids(user)))),
        ))
    return query


def normalize_domain(raw) -> str | None:
    """`@Acme.example` or `acme.example` as `acme.example`; None when empty."""
    domain = (raw or "").strip().lstrip("@").strip().lower()
    if not domain:
        return None
    try:
        normalize_email(f"someone@{domain}")
    except DomainError:
        raise DomainError(f"“{raw.strip()}” is not an email domain such as @acme.example.",
                          field="allowed_domain") from None
    return domain


def create_link(*, actor, now, target, group=None, session=None, role=Role.learner, expires_on=None,
                max_uses=None, allowed_domain=None, deactivate_on=None, self_registration=False) -> InviteLink:
    target, role = InviteLinkTarget(target), Role(role)
    if (target == InviteLinkTarget.group) != (group is not None) or \
            (target == InviteLinkTarget.session) != (session is not None):
        raise DomainError("Choose what the link lets people join.", field="target")
    if role == Role.admin:
        raise DomainError("A link cannot make anyone an admin; invite admins by email.", field="role")
    if actor is not None and not may_share(actor, target, group=group, session=session):
        raise DomainError("You cannot share a link to that.", field="target")
    if actor is not None and actor.role != Role.admin and role != Role.learner:
        raise DomainError("Only admins can share links that make people managers.", field="role")
    if max_uses is not None and not 1 <= max_uses <= MAX_USES_LIMIT:
        raise DomainError(f"The maximum number of uses is between 1 and {MAX_USES_LIMIT:,}.", field="max_uses")
    if expires_on is not None and expires_on < platform_today(now):
        raise DomainError("Choose an expiry date from today on.", field="expires_on")
    if deactivate_on is not None and deactivate_on <= platform_today(now):
        raise DomainError("Choose a deactivation date after today.", field="deactivate_on")
    for name, day in (("expires_on", expires_on), ("deactivate_on", deactivate_on)):
        if day is not None and day > LATEST_DATE:
            raise DomainError(f"Choose a date up to {LATEST_DATE:%Y-%m-%d}.", field=name)
    if self_registration and target != InviteLinkTarget.session:
        raise DomainError("Only a session's link can register people directly.", field="self_registration")
    if session is not None and _session_is_over(session, now):
        raise DomainError("This session is over; its registration can no longer change.", field="target")
    nonce, _, token_hash = new_token()
    link = InviteLink(
        token_nonce=nonce, token_hash=token_hash, target=target, group=group, session=session, role=role,
        allowed_domain=normalize_domain(allowed_domain), deactivate_on=deactivate_on,
        # Valid through the whole expiry day, in the platform's time zone.
        expires_at=start_of_day(expires_on + timedelta(days=1)) if expires_on else None,
        max_uses=max_uses, is_self_registration=bool(self_registration),
        created_by_id=actor.id if actor else None, created_at=now,
    )
    db.session.add(link)
    db.session.flush()
    record_event(actor, "invite_link.created", "invite_link", link.id, now=now, target=target.value,
                 max_uses=max_uses, role=role.value)
    return link


def expires_on(link):
    """The last day a link works (None: no end): its expiry day, or the day before the accounts
    it creates would be deactivated, whichever comes first."""
    days = []
    if link.expires_at is not None:
        days.append(platform_today(link.expires_at - timedelta(microseconds=1)))
    if link.deactivate_on is not None:
        days.append(link.deactivate_on - timedelta(days=1))
    return min(days, default=None)


def revoke_link(link, *, actor, now) -> bool:
    if link.revoked_at is not None:
        return False
    link.revoked_at = now
    record_event(actor, "invite_link.revoked", "invite_link", link.id, now=now)
    db.session.flush()
    return True


def enable_link(link, *, actor, now) -> bool:
    """Undo a revocation: the same address (and printed QR codes) work again."""
    if link.revoked_at is None:
        return False
    link.revoked_at = None
    record_event(actor, "invite_link.enabled", "invite_link", link.id, now=now)
    db.session.flush()
    return True


def expiry_day(link):
    """The last day a link's own expiry date lets it work (None: no expiry date), leaving its
    accounts' deactivation date aside (expires_on gives the day it really stops)."""
    if link.expires_at is None:
        return None
    return platform_today(link.expires_at - timedelta(microseconds=1))


@dataclass(frozen=True)
class TermChange:
    """One term of a link changed: `field` is max_uses, expires_on or allowed_domain."""
    field: str
    before: object
    after: object


TERM_LABELS = {"max_uses": "maximum uses", "expires_on": "works until", "allowed_domain": "email addresses"}


def _term_text(field, value):
    if field == "max_uses":
        return "no limit" if value is None else f"{value:,}"
    if field == "expires_on":
        return "no expiry" if value is None else value.isoformat()
    return "any" if value is None else f"only @{value}"


def describe_change(change: TermChange) -> str:
    """"maximum uses 10 → 25", as the link's page and the command line say it."""
    return (f"{TERM_LABELS[change.field]} {_term_text(change.field, change.before)}"
            f" → {_term_text(change.field, change.after)}")


def update_link(link, *, actor, now, max_uses, expires_on, allowed_domain) -> list[TermChange]:
    """Change a link's maximum uses, last day (`expires_on`, None: no expiry) and allowed
    domain (None: any address); its address and QR code stay the same, so a link that was
    full or expired and is given more room works again where it was shared. Only values that
    change are checked, so an expired link's past day does not stop a change of its domain.
    Returns what changed, in the form's order (nothing: an empty list)."""
    if actor is not None and not may_manage(actor, link):
        raise DomainError("You cannot change this link.")
    if max_uses is not None and not 1 <= max_uses <= MAX_USES_LIMIT:
        raise DomainError(f"The maximum number of uses is between 1 and {MAX_USES_LIMIT:,}.", field="max_uses")
    last_day = expiry_day(link)
    if expires_on != last_day and expires_on is not None:
        if expires_on < platform_today(now):
            raise DomainError("Choose an expiry date from today on.", field="expires_on")
        if expires_on > LATEST_DATE:
            raise DomainError(f"Choose a date up to {LATEST_DATE:%Y-%m-%d}.", field="expires_on")
        if link.deactivate_on is not None and expires_on >= link.deactivate_on:
            raise DomainError(
                f"The accounts this link creates are deactivated on {link.deactivate_on:%Y-%m-%d}, so it works "
                f"until {link.deactivate_on - timedelta(days=1):%Y-%m-%d} at the latest.", field="expires_on")
    allowed_domain = normalize_domain(allowed_domain)
    changes = [TermChange(field, before, after) for field, before, after in (
        ("max_uses", link.max_uses, max_uses), ("expires_on", last_day, expires_on),
        ("allowed_domain", link.allowed_domain, allowed_domain)) if before != after]
    if not changes:
        return []
    values = {"allowed_domain": allowed_domain, "max_uses": max_uses}
    if expires_on != last_day:
        values["expires_at"] = start_of_day(expires_on + timedelta(days=1)) if expires_on else None
    # One conditional UPDATE: a join counted meanwhile (it holds the row until its commit on
    # PostgreSQL) is seen, so the maximum never falls below the uses actually made.
    room = [] if max_uses is None else [InviteLink.use_count <= max_uses]
    updated = db.session.execute(
        update(InviteLink).where(InviteLink.id == link.id, *room)
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(link)
    if not updated:
        raise DomainError(_uses_made_message(link.use_count, max_uses), field="max_uses")
    record_event(actor, "invite_link.updated", "invite_link", link.id, now=now, changes={
        change.field: [_audit_value(change.before), _audit_value(change.after)] for change in changes})
    db.session.flush()
    return changes


def _uses_made_message(use_count, max_uses):
    # use_count > max_uses >= 1: always several people
    return (f"{use_count:,} people have joined through this link already: the maximum uses cannot be "
            f"{max_uses:,}, only {use_count:,} or more (or no limit).")


def _audit_value(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def link_token(link) -> str:
    return token_from_nonce(link.token_nonce)


def link_url(link) -> str:
    """The absolute address people open, starting with BASE_URL (also inside the QR code)."""
    return Links(current_app)("joining.landing", token=link_token(link))


def link_uses(link):
    """Who joined through the link, most recent first."""
    return db.session.execute(
        select(InviteLinkUse.created_at, User).join(User, User.id == InviteLinkUse.user_id)
        .where(InviteLinkUse.link_id == link.id).order_by(InviteLinkUse.created_at.desc(), InviteLinkUse.id.desc())
    ).all()


# --- Reading a link (the public pages) -----------------------------------------------------

def find_link(token: str) -> InviteLink | None:
    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(InviteLink).where(InviteLink.token_hash == hash_token(token)))


def _session_is_over(session, now):
    return session.archived_at is not None or cascade.has_ended(session, now)


def link_state(link, now) -> LinkState:
    if link.revoked_at is not None:
        return LinkState.revoked
    if link.session is not None and _session_is_over(link.session, now):
        return LinkState.ended
    if (link.expires_at is not None and link.expires_at <= now) or \
            (link.deactivate_on is not None and link.deactivate_on <= platform_today(now)):
        return LinkState.expired
    if link.max_uses is not None and link.use_count >= link.max_uses:
        return LinkState.exhausted
    return LinkState.live


def describe_target(link) -> dict:
    """What the link lets people join, as pages, emails and share texts name it."""
    if link.session is not None:
        line = session_lines([link.session])[0]
        return {"kind": "session", "name": f"{line['program']} – {line['name']}", "session": line}
    if link.group is not None:
        return {"kind": "group", "name": link.group.name}
    return {"kind": "platform", "name": current_app.config["LMS_PLATFORM_NAME"]}


def has_joined(link, user) -> bool:
    return db.session.scalar(select(InviteLinkUse.id).where(InviteLinkUse.link_id == link.id,
                                                            InviteLinkUse.user_id == user.id)) is not None


def places_left(link):
    return None if link.max_uses is None else max(0, link.max_uses - link.use_count)


def _refuse_unless_live(link, now):
    state = link_state(link, now)
    if state != LinkState.live:
        raise DomainError(DEAD_LINK_MESSAGES[state])


def check_domain(link, email, field="email"):
    if link.allowed_domain and email.rpartition("@")[2] != link.allowed_domain:
        raise DomainError(_l("This link is only for addresses ending in @%(domain)s.", domain=link.allowed_domain),
                          field=field)


@dataclass
class JoinOutcome:
    user: User
    joined: bool  # False: they had joined through this link before (nothing changed)


def join_link(link, user, *, now, newcomer=False) -> JoinOutcome:
    """An existing account joins through the link: added at once (R1), counted once. A platform
    link has nothing to add an existing account to: only the accounts it creates count."""
    if link.target == InviteLinkTarget.platform and not newcomer:
        return JoinOutcome(user=user, joined=False)
    if user.status == UserStatus.deactivated:
        raise DomainError(_l("This account has been deactivated. Ask your administrator to reactivate it."))
    if has_joined(link, user):  # harmless, even once the link is full or switched off
        return JoinOutcome(user=user, joined=False)
    _refuse_unless_live(link, now)
    check_domain(link, user.email)
    if not _record_use(link, user, now):
        return JoinOutcome(user=user, joined=False)
    if link.group is not None:
        add_group_members(link.group, [user.id], actor=user, now=now)  # R2: its sessions follow
    elif link.session is not None:
        _register(link, user, now)
    record_event(user, "invite_link.joined", "invite_link", link.id, now=now, user_id=user.id)
    # Counted last: on PostgreSQL the link's row stays locked from here to the commit, so a
    # burst of joins runs its cascades side by side and queues only for this. Refused, the
    # caller rolls the whole join back.
    _claim_a_use(link, now)
    db.session.flush()
    return JoinOutcome(user=user, joined=True)


def _record_use(link, user, now) -> bool:
    """Insert this person's use unless they have one; True if it is new. Of two concurrent
    clicks by the same person, the second waits for the first and then finds its row."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(InviteLinkUse).values(link_id=link.id, user_id=user.id, created_at=now) \
        .on_conflict_do_nothing().returning(InviteLinkUse.id)
    return db.session.execute(statement).first() is not None


def _claim_a_use(link, now):
    """Count one use if the link is still live at this instant; refuse otherwise."""
    claimed = db.session.execute(
        update(InviteLink)
        .where(InviteLink.id == link.id, InviteLink.revoked_at.is_(None),
               or_(InviteLink.expires_at.is_(None), InviteLink.expires_at > now),
               or_(InviteLink.max_uses.is_(None), InviteLink.use_count < InviteLink.max_uses))
        .values(use_count=InviteLink.use_count + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(link)
    if not claimed:
        _refuse_unless_live(link, now)
        raise DomainError(DEAD_LINK_MESSAGES[LinkState.exhausted])


def _register(link, user, now):
    """A session's link: registered like a learner a trainer adds (R4); with self-registration
    the place is accepted at once, so no invitation email is needed."""
    session = link.session
    cascade.enroll([session], [user.id], now=now, direct=True, send_email=not link.is_self_registration)
    if link.is_self_registration:
        enrollment = db.session.scalar(select(Enrollment).where(Enrollment.session_id == session.id,
                                                                Enrollment.user_id == user.id))
        if enrollment.status != EnrollmentStatus.accepted:
            enrollment.status = EnrollmentStatus.accepted
            enrollment.responded_at = enrollment.updated_at = now
            cancel_queued_emails(OutboxEmail.enrollment_id == enrollment.id, reason="registered through a link")


# --- Newcomers: a form, then a verification email -----------------------------------------

def request_signup(link, *, email, first_name, last_name, language, now) -> None:
    """A newcomer asks to join. The same answer whatever the address (no account enumeration):
    a verification email for a new address, a "you already have an account" email otherwise."""
    _refuse_unless_live(link, now)
    email = normalize_email(email)
    check_domain(link, email)
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
    if not first_name or not last_name:
        raise DomainError(_l("Enter your first and last name."), field="first_name" if not first_name else "last_name")
    language = check_language(language)
    existing = find_user_by_email(email)
    if existing is not None:
        _tell_existing_account(link, existing, now)
        return
    _discard_signups(LinkSignup.link_id == link.id, LinkSignup.email == email)  # the newest form wins
    nonce, _, token_hash = new_token()
    signup = LinkSignup(link_id=link.id, email=email, first_name=first_name, last_name=last_name,
                        language=language, token_nonce=nonce,
                        token_hash=token_hash, expires_at=now + SIGNUP_VALIDITY, created_at=now)
    db.session.add(signup)
    db.session.flush()
    queue_emails([{"recipient": email, "kind": "link_signup", "language": language,
                   "context": {"signup_id": signup.id},
                   "dedupe_key": f"link_signup:{signup.id}:{token_hash[:16]}"}], now=now)


def _tell_existing_account(link, user, now):
    if user.status == UserStatus.deactivated:
        return  # nothing to offer; their administrator can reactivate them
    invitation = db.session.scalar(select(Invitation.id).where(
        Invitation.user_id == user.id, Invitation.status == InvitationStatus.pending))
    stamp = now.strftime("%Y%m%dT%H%M%S")
    queue_emails([{"recipient": user.email, "user_id": user.id, "kind": "link_existing_account",
                   "language": user.language, "context": {"link_id": link.id, "invitation_id": invitation},
                   # one such email per link and person per minute, however often the form is sent
                   "dedupe_key": f"link_existing_account:{link.id}:{user.id}:{stamp[:13]}"}], now=now)


def _discard_signups(*conditions) -> int:
    """Delete these sign-ups (and their unsent emails); how many this call deleted."""
    ids = db.session.scalars(select(LinkSignup.id).where(*conditions)).all()
    deleted = 0
    for batch in chunked(ids, 500):
        # Deleted first: of two concurrent calls (a double click on "Confirm") only one counts a row.
        deleted += db.session.execute(delete(LinkSignup).where(LinkSignup.id.in_(batch))).rowcount
        cancel_queued_emails(or_(*[OutboxEmail.dedupe_key.startswith(f"link_signup:{signup_id}:")
                                   for signup_id in batch]), reason="sign-up confirmed, replaced or expired")
    return deleted


def find_signup(token: str) -> LinkSignup | None:
    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(LinkSignup).where(LinkSignup.token_hash == hash_token(token)))


# What a newcomer confirming their address is told when the link died in between.
SIGNUP_REFUSED_MESSAGES = {
    LinkState.revoked: _l("The link you signed up through has been switched off since."),
    LinkState.expired: _l("The link you signed up through has expired since."),
    LinkState.exhausted: _l("The link you signed up through is full: the last places were taken before you confirmed."),
    LinkState.ended: _l("The session you signed up for is over."),
}


def check_signup(signup, now):
    """Refuse a confirmation that has expired, or whose link no longer lets anyone join."""
    _refuse_if_expired(signup, now)
    _refuse_if_link_closed(signup, now)


def _refuse_if_expired(signup, now):
    if signup.expires_at <= now:
        raise SignupRefused(_l("This confirmation link has expired."), "expired")


def _refuse_if_link_closed(signup, now):
    state = link_state(signup.link, now)
    if state != LinkState.live:
        raise SignupRefused(SIGNUP_REFUSED_MESSAGES[state], state.value)


class SignupRefused(DomainError):
    """The verification link cannot create the account; `reason` says why, for the page."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


def confirm_signup(signup, *, password, now) -> User:
    """The owner of the address opened the verification link and chose their password: the
    account is created and joins through the link. All or nothing: if the link is used up
    meanwhile, no account is left behind."""
    password_hash = hash_password(password)  # a DomainError (too short) before anything is used
    _refuse_if_expired(signup, now)
    link = signup.link
    # The row is the one-time ticket: deleting it first makes a second click find nothing.
    if not _discard_signups(LinkSignup.id == signup.id):
        raise SignupRefused(_l("This confirmation link has already been used."), "used")
    if find_user_by_email(signup.email) is not None:
        raise SignupRefused(_l("An account with this address exists already: sign in to join."), "exists")
    _refuse_if_link_closed(signup, now)
    deactivate_on = link.deactivate_on if link.deactivate_on and link.deactivate_on > platform_today(now) else None
    user = User(email=signup.email, first_name=signup.first_name, last_name=signup.last_name,
                role=link.role, status=UserStatus.active, password_hash=password_hash,
                language=signup.language, deactivate_on=deactivate_on, created_at=now, updated_at=now)
    db.session.add(user)
    db.session.flush()
    record_event(user, "user.created", "user", user.id, now=now, email=user.email, invite_link_id=link.id)
    try:
        join_link(link, user, now=now, newcomer=True)
    except DomainError as error:
        db.session.refresh(link)
        state = link_state(link, now)
        raise SignupRefused(SIGNUP_REFUSED_MESSAGES.get(state, error.message), state.value) from None
    return user


def discard_signup(signup) -> None:
    """A sign-up that can no longer be confirmed (its link died) stops counting as waiting."""
    _discard_signups(LinkSignup.id == signup.id)


def discard_stale_signups(*, now) -> int:
    """Sign-ups never confirmed go when their confirmation expires."""
    return _discard_signups(LinkSignup.expires_at <= now)


def signup_counts(link_ids) -> dict[int, int]:
    """{link id: sign-ups awaiting confirmation}, for the links page."""
    if not link_ids:
        return {}
    return dict(db.session.execute(
        select(LinkSignup.link_id, func.count()).where(LinkSignup.link_id.in_(list(link_ids)))
        .group_by(LinkSignup.link_id)).all())

