"""R12: cancelling or declining a platform invitation takes back what it brought; inviting again
puts it back (issue 16, lines 2-4), through the services and the pages people use."""
import re
from datetime import timedelta

from sqlalchemy import select

from lms.clock import utcnow
from lms.enrollment.groups.models import GroupMembership
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import cancel_invitations, decline_invitation, invite_people, resend_invitations
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.programs.cascade import assign_group, enroll
from lms.programs.models import Enrollment, EnrollmentStatus
from lms.tokens import token_from_nonce
from tests.conftest import htmx_headers, user_of
from tests.pages import flashes, text


def state_of(email):
    """(groups, {session id: status}, queued email kinds) of one person."""
    db.session.expire_all()
    user = user_of(email)
    groups = set(db.session.scalars(select(GroupMembership.group_id).where(GroupMembership.user_id == user.id)))
    enrollments = dict(db.session.execute(select(Enrollment.session_id, Enrollment.status)
                                          .where(Enrollment.user_id == user.id)).all())
    queued = sorted(db.session.scalars(select(OutboxEmail.kind).where(
        OutboxEmail.user_id == user.id, OutboxEmail.status == OutboxStatus.queued)))
    return groups, enrollments, queued


def kate_in_sales_north(make_group, make_session, start):
    """Kate is invited into Sales North, which two upcoming sessions use, and directly into a third."""
    group = make_group("Sales North")
    first, second, direct = (make_session(starts_at=start + timedelta(days=days), name=f"S{days}")
                             for days in (1, 2, 3))
    for session in (first, second):
        assign_group(session, group, actor=None, now=start)
    invite_people(["kate@example.com"], actor=None, now=start, group_ids=[group.id])
    enroll(direct, [user_of("kate@example.com").id], now=start, direct=True)
    db.session.commit()
    return group, (first, second, direct)


def invitation_of(email):
    db.session.expire_all()
    return db.session.scalars(select(Invitation).join(Invitation.user)
                              .where(Invitation.user.has(email=email)).order_by(Invitation.id)).all()[-1]


def test_cancelling_takes_the_person_out_of_the_groups_and_pending_sessions_it_brought(
        app, make_group, make_session, now):
    group, sessions = kate_in_sales_north(make_group, make_session, now)
    assert state_of("kate@example.com") == (
        {group.id}, {session.id: EnrollmentStatus.invited for session in sessions},
        ["invitation", "session_invitation", "session_invitation", "session_invitation"])

    cancel_invitations([invitation_of("kate@example.com")], actor=None, now=now)
    db.session.commit()

    assert state_of("kate@example.com") == (
        set(), {session.id: EnrollmentStatus.cancelled for session in sessions}, [])


def test_declining_takes_back_the_same(app, make_group, make_session, now):
    group, sessions = kate_in_sales_north(make_group, make_session, now)

    decline_invitation(invitation_of("kate@example.com"), now=now)
    db.session.commit()

    assert state_of("kate@example.com") == (
        set(), {session.id: EnrollmentStatus.cancelled for session in sessions}, [])


def test_inviting_again_puts_back_the_groups_and_sessions_with_their_emails_queued_again(
        app, make_group, make_session, now):
    group, sessions = kate_in_sales_north(make_group, make_session, now)
    cancel_invitations([invitation_of("kate@example.com")], actor=None, now=now)
    db.session.commit()
    later = now + timedelta(hours=3)

    outcome = invite_people(["kate@example.com"], actor=None, now=later)
    db.session.commit()

    assert outcome.invited == ["kate@example.com"]
    assert state_of("kate@example.com") == (
        {group.id}, {session.id: EnrollmentStatus.invited for session in sessions},
        ["invitation", "session_invitation", "session_invitation", "session_invitation"])
    due = sorted(db.session.scalars(select(OutboxEmail.due_at).where(
        OutboxEmail.kind == "session_invitation", OutboxEmail.status == OutboxStatus.queued)))
    assert due == [session.starts_at for session in sessions]  # R4, again
    # Put back once: a third invitation brings nothing twice.
    assert invitation_of("kate@example.com").withdrawn is None


def test_resending_a_declined_invitation_puts_back_what_declining_took(app, make_group, make_session, now):
    group, sessions = kate_in_sales_north(make_group, make_session, now)
    invitation = invitation_of("kate@example.com")
    decline_invitation(invitation, now=now)
    db.session.commit()

    resent, refused = resend_invitations([invitation], actor=None, now=now + timedelta(days=1))
    db.session.commit()

    assert (len(resent), refused) == (1, [])
    groups, enrollments, queued = state_of("kate@example.com")
    assert (groups, set(enrollments.values())) == ({group.id}, {EnrollmentStatus.invited})
    assert queued.count("session_invitation") == 3


def test_an_accepted_session_answer_stays_when_the_invitation_is_cancelled(app, make_group, make_session, now):
    """As R5: only what is pending is taken back."""
    group, (first, second, direct) = kate_in_sales_north(make_group, make_session, now)
    kate = user_of("kate@example.com")
    db.session.execute(Enrollment.__table__.update().where(Enrollment.session_id == first.id)
                       .values(status=EnrollmentStatus.accepted))
    db.session.commit()

    cancel_invitations([invitation_of("kate@example.com")], actor=None, now=now)
    db.session.commit()

    assert state_of(kate.email)[1] == {first.id: EnrollmentStatus.accepted, second.id: EnrollmentStatus.cancelled,
                                       direct.id: EnrollmentStatus.cancelled}


# --- through the pages ---------------------------------------------------------------------


def test_the_invitations_list_says_what_cancelling_takes_back_and_does_it(admin_client, make_group, make_session):
    start = utcnow()
    group, sessions = kate_in_sales_north(make_group, make_session, start)
    invitation = invitation_of("kate@example.com")

    listing = text(admin_client.get("/admin/invitations"))
    assert ("Cancel the invitation of kate@example.com? The link stops working and kate@example.com leaves "
            "Sales North and 3 pending session invitations.") in listing

    response = admin_client.post(f"/admin/invitations/{invitation.id}/cancel",
                                 headers=htmx_headers(f"invitation-{invitation.id}"))
    assert response.status_code == 200
    assert ("kate@example.com was removed from Sales North and from 3 pending session invitations."
            in flashes(text(response)))
    assert state_of("kate@example.com")[:2] == (set(), {s.id: EnrollmentStatus.cancelled for s in sessions})
    roster = text(admin_client.get(f"/sessions/{sessions[0].id}"))
    assert re.search(r"kate@example.com.*?cancelled", roster, re.S)


def test_declining_on_the_registration_page_takes_back_the_groups_and_sessions(client, make_group, make_session):
    start = utcnow()
    group, sessions = kate_in_sales_north(make_group, make_session, start)
    token = token_from_nonce(invitation_of("kate@example.com").token_nonce)

    page = client.get(f"/invitation/{token}")
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"',
                      text(page))
    response = client.post(f"/invitation/{token}/decline", data={"csrf_token": next(g for g in csrf.groups() if g)})

    assert response.status_code in (200, 303)
    assert invitation_of("kate@example.com").status == InvitationStatus.declined
    assert state_of("kate@example.com") == (set(), {s.id: EnrollmentStatus.cancelled for s in sessions}, [])


def test_cancel_then_invite_again_on_the_invite_page_queues_the_session_emails_again(
        admin_client, make_group, make_session):
    """Line 4: the roster said "invited, due ..." but no email was ever queued again."""
    start = utcnow()
    group, sessions = kate_in_sales_north(make_group, make_session, start)
    invitation = invitation_of("kate@example.com")
    admin_client.post(f"/admin/invitations/{invitation.id}/cancel")

    response = admin_client.post("/admin/invite", data={"emails": "kate@example.com", "role": "learner",
                                                        "language": "en", "send_email": "y"})

    assert response.status_code == 200
    groups, enrollments, queued = state_of("kate@example.com")
    assert groups == {group.id}
    assert set(enrollments.values()) == {EnrollmentStatus.invited}
    assert queued.count("session_invitation") == 3
    roster = text(admin_client.get(f"/sessions/{sessions[0].id}"))
    assert re.search(r"kate@example.com.*?invited.*?due ", roster, re.S)
