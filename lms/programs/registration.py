"""Filling a session's registration by email: the session page's Add emails and
`lms sessions add-learner` (DESIGN §5) both call `add_emails_to_session`.

Someone with an account is registered directly (R1); an address new to the platform is invited
to it first (as a learner), then registered, so they get the platform invitation now and the
session's when the session starts (R4). Someone already registered keeps their answer.
"""
from dataclasses import dataclass, field

from sqlalchemy import select

from lms.accounts.models import User, UserStatus
from lms.audit.services import record_event
from lms.db_utils import chunked
from lms.enrollment.invitations.services import invite_people, parse_email_list
from lms.errors import DomainError
from lms.extensions import db
from lms.programs.cascade import enroll, has_ended
from lms.programs.models import Enrollment, EnrollmentStatus

ENDED = "This session has ended; its registration can no longer change."


@dataclass
class Registered:
    """What adding one address did."""

    email: str
    platform: str  # "invited" (new, or invited again), "already_invited" (still pending), "already_member"
    invitation_id: int | None  # the platform invitation this issued
    enrollment: Enrollment
    invited: bool  # registered (invited to the session) now; False: already was, their answer stands

    def as_dict(self):
        return {"email": self.email, "platform": self.platform, "invitation_id": self.invitation_id,
                "enrollment_id": self.enrollment.id, "status": self.enrollment.status.value,
                "invited": self.invited}

    def describe(self):
        platform = {"invited": "invited to the platform", "already_invited": "already invited to the platform",
                    "already_member": "has an account"}[self.platform]
        session = ("invited to the session" if self.invited
                   else f"already registered ({self.enrollment.status.value}), unchanged")
        return f"{self.email}: {platform}; {session}"


@dataclass
class AddEmailsOutcome:
    registered: list[Registered] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (what was typed, why)
    repeated: list[str] = field(default_factory=list)  # typed more than once, handled once

    @property
    def new_to_platform(self):
        return [item for item in self.registered if item.platform == "invited"]

    @property
    def already_registered(self):
        return [item for item in self.registered if not item.invited]

    def as_dict(self, session):
        return {"session_id": session.id, "learners": [item.as_dict() for item in self.registered],
                "repeated": self.repeated,
                "rejected": [{"email": email, "reason": reason} for email, reason in self.rejected]}

    def totals(self):
        """How many were registered, and of them how many were new to the platform."""
        message = (f"{len(self.registered)} registered "
                   f"({len(self.new_to_platform)} new to the platform, invited first).")
        if self.already_registered:
            count = len(self.already_registered)
            message += f" {count} {'was' if count == 1 else 'were'} already registered: unchanged."
        return message

    def summary(self):
        """The sentence the session page shows."""
        message = self.totals()
        if self.repeated:
            message += f" Typed twice (counted once): {', '.join(self.repeated)}."
        if self.rejected:
            message += " Left out: " + "; ".join(f"{raw} ({reason})" for raw, reason in self.rejected) + "."
        return message


def add_emails_to_session(session, text, *, actor, now, send_email=True) -> AddEmailsOutcome:
    """Register the addresses typed in `text` (commas, semicolons, spaces or new lines) for the
    session: accounts directly, newcomers invited to the platform first. Invalid addresses and
    deactivated accounts are left out, with their reason."""
    if has_ended(session, now):
        raise DomainError(ENDED)
    parsed = parse_email_list(text)
    if not parsed.emails and not parsed.rejected:
        raise DomainError("Enter at least one email address.", field="emails")
    before = _registered_user_ids(session, parsed.emails)
    invited = invite_people(parsed.emails, actor=actor, now=now, send_email=send_email)
    platform = {**{email: "already_member" for email in invited.already_members},
                **{email: "already_invited" for email in invited.already_invited},
                **{email: "invited" for email in invited.invited}}
    people = _users(email for email in parsed.emails if email in platform)
    enroll([session], [user.id for user in people.values()], now=now, direct=True, send_email=send_email)
    enrollments = {enrollment.user_id: enrollment for enrollment in db.session.scalars(
        select(Enrollment).where(Enrollment.session_id == session.id,
                                 Enrollment.user_id.in_([user.id for user in people.values()])))}
    invitation_of = {invitation.user_id: invitation.id for invitation in invited.invitations}
    outcome = AddEmailsOutcome(rejected=parsed.rejected + invited.rejected,
                               repeated=list(parsed.repeated))
    for email in parsed.emails:
        user = people.get(email)
        if user is None or user.id not in enrollments:  # deactivated: rejected by invite_people
            continue
        outcome.registered.append(Registered(
            email=email, platform=platform[email], invitation_id=invitation_of.get(user.id),
            enrollment=enrollments[user.id], invited=user.id not in before))
    record_event(actor, "session.emails_added", "session", session.id, now=now,
                 registered=len(outcome.registered) - len(outcome.already_registered),
                 new_to_platform=len(outcome.new_to_platform))
    return outcome


def _users(emails):
    users = {}
    for batch in chunked(list(emails)):
        users.update((user.email, user) for user in db.session.scalars(
            select(User).where(User.email.in_(batch), User.status != UserStatus.deactivated)))
    return users


def _registered_user_ids(session, emails) -> set[int]:
    """Who among these addresses is already registered (any answer but cancelled)."""
    registered = set()
    for batch in chunked(emails):
        registered.update(db.session.scalars(
            select(Enrollment.user_id).join(User, User.id == Enrollment.user_id)
            .where(Enrollment.session_id == session.id, Enrollment.status != EnrollmentStatus.cancelled,
                   User.email.in_(batch))))
    return registered
