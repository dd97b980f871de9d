"""Filling a session's registration by email (lms.programs.registration), the service behind the
session page's Add emails and `lms sessions add-learner`, with injected time."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Role, User, UserStatus
from lms.audit.models import AuditEvent
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import invite_people
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.programs.cascade import add_learner
from lms.programs.models import Enrollment, EnrollmentStatus
from lms.programs.registration import add_emails_to_session


def queued_kinds(address):
    return db.session.execute(select(OutboxEmail.kind, OutboxEmail.due_at)
                              .where(OutboxEmail.recipient == address, OutboxEmail.status == OutboxStatus.queued)
                              .order_by(OutboxEmail.due_at, OutboxEmail.id)).all()


def test_accounts_are_registered_and_newcomers_invited_to_the_platform_first(
        app, make_user, make_session, admin, now):
    session = make_session(starts_at=now + timedelta(days=10))
    make_user("ann@example.com")
    make_user("gone@example.com", status=UserStatus.deactivated)
    invite_people(["cara@example.com"], actor=admin, now=now - timedelta(days=1))
    accepted = make_user("dan@example.com")
    add_learner(session, accepted, actor=None, now=now)
    db.session.scalar(select(Enrollment).where(Enrollment.user_id == accepted.id)).status = EnrollmentStatus.accepted

    outcome = add_emails_to_session(
        session, "ann@example.com, New@Example.com; cara@example.com\ndan@example.com gone@example.com oops",
        actor=admin, now=now)
    db.session.commit()

    newcomer = db.session.scalar(select(User).where(User.email == "new@example.com"))
    invitation = db.session.scalar(select(Invitation).where(Invitation.user_id == newcomer.id))
    assert (newcomer.status, newcomer.role, invitation.status) == (
        UserStatus.invited, Role.learner, InvitationStatus.pending)
    assert [(item.email, item.platform, item.invitation_id, item.enrollment.status, item.invited)
            for item in outcome.registered] == [
        ("ann@example.com", "already_member", None, EnrollmentStatus.invited, True),
        ("new@example.com", "invited", invitation.id, EnrollmentStatus.invited, True),
        ("cara@example.com", "already_invited", None, EnrollmentStatus.invited, True),
        ("dan@example.com", "already_member", None, EnrollmentStatus.accepted, False),
    ]
    assert outcome.rejected == [("oops", "not a valid email address"),
                                ("gone@example.com", "this account is deactivated; reactivate it first")]
    assert all(item.enrollment.is_direct for item in outcome.registered)
    # R4: the platform invitation now, the session's at the start; nothing new for dan
    assert queued_kinds("new@example.com") == [("invitation", now), ("session_invitation", session.starts_at)]
    assert queued_kinds("dan@example.com") == [("session_invitation", session.starts_at)]
    assert outcome.summary() == (
        "4 registered (1 new to the platform, invited first). 1 was already registered: unchanged. "
        "Left out: oops (not a valid email address); gone@example.com (this account is deactivated; "
        "reactivate it first).")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "session.emails_added"))
    assert (event.actor_id, event.target_id, event.details) == (
        admin.id, session.id, {"registered": 3, "new_to_platform": 1})


def test_an_ended_session_refuses_and_nobody_is_invited(app, make_session, now):
    session = make_session(starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=2))

    with pytest.raises(DomainError, match="has ended"):
        add_emails_to_session(session, "late@example.com", actor=None, now=now)
    db.session.rollback()

    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_a_list_of_separators_asks_for_an_address(app, make_session, now):
    with pytest.raises(DomainError, match="Enter at least one email address."):
        add_emails_to_session(make_session(), " ,; \n", actor=None, now=now)
