"""Journey 1: a trainer adds learners to a session (a group, two people found as they type,
three new emails), sees the registration update in place, and later who accepted."""
from datetime import timedelta

from playwright.sync_api import expect

from lms.clock import utcnow
from lms.enrollment.groups.services import add_group_members, create_group
from lms.extensions import db
from lms.programs.models import Enrollment
from lms.programs.services import create_program, create_session, respond_to_enrollment
from tests.conftest import PASSWORD
from tests.e2e.conftest import (
    PHONE,
    add_user,
    htmx_settled,
    sign_in,
    snapshot,
    stays_on_page,
    still_same_page,
)


def test_a_trainer_fills_a_sessions_registration_and_sees_who_accepted(page, site):
    now = utcnow()
    trainer = add_user("tom.trainer@example.com", role="manager", first_name="Tom", last_name="Trainer",
                       password=PASSWORD, now=now)
    group = create_group("Sales North", actor=None, now=now)
    group.open_to_trainers = True  # an admin lets trainers add it to their sessions
    members = [add_user(f"{name.lower()}@example.com", first_name=name, last_name="North", now=now)
               for name in ("Nadia", "Noah", "Nina")]
    add_group_members(group, [member.id for member in members], actor=None, now=now)
    alice = add_user("alice.martin@example.com", first_name="Alice", last_name="Martin", now=now)
    add_user("bob.dupont@example.com", first_name="Bob", last_name="Dupont", now=now)
    program = create_program("Workplace Safety", owner=trainer, now=now)
    session = create_session(program, name="Spring session", starts_at=now + timedelta(days=14),
                             ends_at=now + timedelta(days=15), trainers=[trainer], actor=trainer, now=now)
    db.session.commit()

    sign_in(page, trainer.email, PASSWORD)
    page.get_by_role("link", name="Programs").click()
    snapshot(page, "trainer-1-programs")
    page.get_by_role("link", name="Workplace Safety").click()
    page.get_by_role("link", name="Spring session").click()
    expect(page.get_by_role("heading", level=1, name="Spring session")).to_be_visible()
    expect(page.get_by_text("Nobody registered yet")).to_be_visible()
    snapshot(page, "trainer-2-empty-session")
    stays_on_page(page)

    page.get_by_label("+Group").select_option(label="Sales North (3)")
    held = []  # the request is held until the page has shown it is waiting
    page.route("**/sessions/*/groups", lambda route: held.append(route))
    add_group = page.locator("form", has=page.get_by_label("+Group")).get_by_role("button", name="Add")
    add_group.click()
    expect(add_group).to_have_attribute("aria-busy", "true")
    expect(add_group).to_be_disabled()
    held[0].continue_()
    page.unroute("**/sessions/*/groups")
    expect(page.get_by_text("Sales North added: 3 learners invited.")).to_be_visible()
    registration = page.locator("#registration table")
    for member in members:
        expect(registration.get_by_role("row").filter(has_text=member.email)).to_contain_text("Sales North")
    htmx_settled(page)

    # People outside the trainer's sessions are found by their exact address only.
    page.get_by_label("+Learner").fill("alic")
    expect(page.get_by_text("Nobody else matches “alic”.")).to_be_visible()
    for typed, person in (("Alice.Martin@example.com", "alice.martin@example.com"),
                          ("bob.dupont@example.com", "bob.dupont@example.com")):
        page.get_by_label("+Learner").fill(typed)
        page.get_by_role("button", name=f"Add {person}").click()
        expect(registration.get_by_role("row").filter(has_text=person)).to_contain_text("direct")
        htmx_settled(page)

    page.get_by_label("Add emails").fill("new.one@example.com, new.two@example.com\nnew.three@example.com")
    page.locator("form", has=page.get_by_label("Add emails")).get_by_role("button", name="Add").click()
    expect(page.get_by_text("3 registered (3 new to the platform, invited first).")).to_be_visible()
    expect(page.get_by_role("link", name="All (8)")).to_be_visible()
    assert still_same_page(page), "the registration changed without reloading the page"
    snapshot(page, "trainer-3-registration")

    # Later: Alice accepts from her email or inbox; the trainer looks at who accepted.
    enrollment = db.session.query(Enrollment).filter_by(session_id=session.id, user_id=alice.id).one()
    respond_to_enrollment(enrollment, user=alice, accept=True, now=utcnow())
    db.session.commit()
    page.reload()
    page.get_by_role("link", name="Accepted (1)").click()
    rows = page.locator("#registration tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Alice Martin")
    expect(rows.first).to_contain_text("accepted")
    snapshot(page, "trainer-4-accepted")

    page.set_viewport_size(PHONE)
    page.get_by_role("link", name="All (8)").click()
    expect(page.get_by_role("row").filter(has_text="new.three@example.com")).to_be_visible()
    snapshot(page, "trainer-5-registration-phone")
