"""Every page the app serves, opened in Chromium by an admin and by a visitor: the browser
reports no Content-Security-Policy violation on any of them (the journeys check the pages they
pass through, with their htmx swaps, the same way)."""
from datetime import timedelta

from lms.clock import utcnow
from lms.enrollment.groups.services import create_group
from lms.enrollment.invitations.services import invite_people
from lms.enrollment.links.services import create_link, link_token
from lms.extensions import db
from lms.notifications.models import OutboxEmail
from lms.programs.cascade import assign_group
from lms.programs.services import create_program, create_session
from lms.tokens import token_from_nonce
from tests.e2e.conftest import add_user, sign_in

PASSWORD = "correct-horse-battery"


def pages_of_the_app(site):
    """One URL per page: every GET route, with the ids of a small world."""
    now = utcnow()
    admin = add_user("ada@example.com", role="admin", first_name="Ada", last_name="Admin", password=PASSWORD,
                     now=now)
    learner = add_user("lea@example.com", first_name="Léa", last_name="Learner", now=now)
    group = create_group("Sales North", actor=None, now=now)
    program = create_program("Workplace Safety", owner=admin, now=now)
    session = create_session(program, name="Spring session", starts_at=now + timedelta(days=14),
                             ends_at=now + timedelta(days=15), trainers=[admin], actor=admin, now=now)
    assign_group(session, group, actor=admin, now=now)
    (invitation,) = invite_people(["new@example.com"], actor=admin, now=now, group_ids=[group.id]).invitations
    link = create_link(actor=admin, now=now, target="session", session=session)
    db.session.commit()
    email = db.session.query(OutboxEmail).first()
    ids = {"user_id": learner.id, "group_id": group.id, "invitation_id": invitation.id, "program_id": program.id,
           "session_id": session.id, "link_id": link.id, "email_id": email.id, "job_id": None}
    staff = ["/", "/account", "/inbox", "/admin/users", f"/admin/users/{ids['user_id']}", "/admin/groups",
             f"/admin/groups/{ids['group_id']}", "/admin/invite", "/admin/accounts/new", "/admin/invitations",
             f"/admin/invitations/{ids['invitation_id']}/link", "/admin/imports/new", "/admin/imports",
             "/admin/outbox", f"/admin/outbox/{ids['email_id']}", "/programs", f"/programs/{ids['program_id']}",
             f"/sessions/{ids['session_id']}", f"/sessions/{ids['session_id']}/groups/{ids['group_id']}/remove",
             "/admin/links", "/admin/links/new", f"/admin/links/{ids['link_id']}",
             f"/admin/links/{ids['link_id']}/edit", "/admin/scim/"]
    public = ["/login", f"/invitation/{token_from_nonce(invitation.token_nonce)}", f"/join/{link_token(link)}",
              "/invitation/not-a-token", "/join/not-a-token", "/no-such-page"]
    return admin, staff, public


def violations_on(page, urls):
    refused = []
    page.on("console", lambda message: refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text else None)
    for url in urls:
        page.goto(url)
        page.wait_for_load_state("networkidle")
    return refused


def test_no_page_breaks_its_content_security_policy(context, site, base_url):
    admin, staff, public = pages_of_the_app(site)
    visitor = context.new_page()
    assert violations_on(visitor, [base_url + path for path in public]) == []

    page = context.new_page()
    page.goto(base_url + "/login")
    sign_in(page, admin.email, PASSWORD)
    assert violations_on(page, [base_url + path for path in staff]) == []
