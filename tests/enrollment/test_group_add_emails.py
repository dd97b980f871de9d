"""A group's page takes new emails (issue 16, line 12): newcomers are invited into the group, so
into its ongoing and future sessions, as learners; people with an account are just added (R1)."""
from datetime import timedelta

from sqlalchemy import select

from lms.accounts.models import Role, UserStatus
from lms.clock import utcnow
from lms.enrollment.groups.models import GroupMembership
from lms.enrollment.invitations.models import Invitation
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.programs.cascade import assign_group
from lms.programs.models import Enrollment, EnrollmentStatus
from tests.conftest import htmx_headers, user_of
from tests.pages import flashes, text, visible


def members(group):
    db.session.expire_all()
    return sorted(user.email for user in db.session.scalars(
        select(GroupMembership).where(GroupMembership.group_id == group.id)).all() for user in [user.user])


def test_add_emails_invites_newcomers_into_the_group_and_its_sessions(admin_client, make_group, make_user,
                                                                       make_session):
    group = make_group("Sales North")
    session = make_session(starts_at=utcnow() + timedelta(days=9))
    assign_group(session, group, actor=None, now=utcnow())
    make_user("eve@example.com")
    db.session.commit()

    response = admin_client.post(f"/admin/groups/{group.id}/emails", headers=htmx_headers("group-add-emails"),
                                 data={"emails-emails": "kate@example.com, eve@example.com\nnot-an-email",
                                       "emails-send_email": "y"})

    html = text(response)
    assert response.status_code == 200 and "<html" not in html
    assert ("Invited 1; 1 already had an account and was added to Sales North; 1 rejected."
            in flashes(html))
    assert "not-an-email: not a valid email address." in flashes(html)
    assert 'id="group-members" hx-swap-oob="true"' in html and "kate@example.com" in html
    assert members(group) == ["eve@example.com", "kate@example.com"]
    kate = user_of("kate@example.com")
    assert (kate.status, kate.role) == (UserStatus.invited, Role.learner)
    assert db.session.scalar(select(Invitation.status).where(Invitation.user_id == kate.id)).value == "pending"
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.user_id == kate.id))
    assert (enrollment.session_id, enrollment.status) == (session.id, EnrollmentStatus.invited)
    queued = sorted(db.session.scalars(select(OutboxEmail.kind).where(
        OutboxEmail.recipient == "kate@example.com", OutboxEmail.status == OutboxStatus.queued)))
    assert queued == ["invitation", "session_invitation"]
    # The form is emptied for the next addresses.
    assert "kate@example.com" not in html.split('id="group-members"')[0].split("<textarea")[1].split("</textarea>")[0]


def test_add_emails_without_htmx_redirects_to_the_group_page(admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.post(f"/admin/groups/{group.id}/emails", data={"emails-emails": "kate@example.com"})

    assert response.status_code == 303 and response.location == f"/admin/groups/{group.id}"
    assert members(group) == ["kate@example.com"]
    # send_email unticked: no email at all
    assert db.session.scalars(select(OutboxEmail)).all() == []
    page = visible(text(admin_client.get(f"/admin/groups/{group.id}")))
    assert "kate@example.com invited" in page


def test_add_emails_with_nothing_valid_says_so_and_writes_nothing(admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.post(f"/admin/groups/{group.id}/emails", headers=htmx_headers("group-add-emails"),
                                 data={"emails-emails": "nope, also-nope"})

    assert response.status_code == 422
    assert "None of these is a valid email address." in text(response)
    assert members(group) == []


def test_add_emails_is_for_admins_and_needs_the_csrf_token(admin_client, manager_client, make_group):
    group = make_group("Sales North")

    assert manager_client.post(f"/admin/groups/{group.id}/emails",
                               data={"emails-emails": "kate@example.com"}).status_code == 403
    forged = admin_client.post(f"/admin/groups/{group.id}/emails", data={"emails-emails": "kate@example.com"},
                               csrf=False)
    assert forged.status_code == 400
    assert members(group) == []
