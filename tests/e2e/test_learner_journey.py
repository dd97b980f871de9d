"""Journey 2: learners invited by email (a real SMTP server receives what the app sends). One
registers through the platform invitation, gets the session invitation when the session
starts (R4), accepts it from the email link and finds the session on their home page; the
other only opens their email when the session starts, is sent to register first, then declines."""
import re
from datetime import timedelta

from playwright.sync_api import expect

from lms.clock import utcnow
from lms.due_work import run_due
from lms.enrollment.groups.services import create_group
from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.programs.cascade import assign_group
from lms.programs.services import create_program, create_session
from tests.conftest import PASSWORD
from tests.e2e.conftest import PHONE, add_user, snapshot

LEA = "lea.learner@example.com"
DAN = "dan.decliner@example.com"
PLATFORM_INVITATION = "Tom Trainer invited you to LMS"
SESSION_INVITATION = "Invitation: Workplace Safety, Spring session"


def scheduler_runs_at(when):
    """What the scheduler does at `when`: the emails due by then go out over SMTP."""
    run_due(now=when)
    db.session.commit()


def subjects(mailbox, address):
    return [message["Subject"] for message in mailbox.to(address)]


def link_in(mailbox, address, subject, base_url):
    """The link in the plain-text part of the one email with this subject, as a person would copy it."""
    [message] = [m for m in mailbox.to(address) if m["Subject"] == subject]
    text = message.get_body(("plain",)).get_content()
    found = re.search(re.escape(base_url) + r"/\S+", text)
    assert found, f"no link to {base_url} in {subject!r}:\n{text}"
    return found.group()


def register(page, first_name, last_name):
    page.get_by_label("First name").fill(first_name)
    page.get_by_label("Last name").fill(last_name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()


def my_programs_row(page):
    section = page.locator("section").filter(has=page.get_by_role("heading", level=2, name="My programs"))
    return section.get_by_role("row").filter(has_text="Spring session")


def test_a_learner_accepts_a_session_invitation_from_email_and_another_declines(
        page, new_context, site, mailbox, base_url):
    now = utcnow()
    trainer = add_user("tom.trainer@example.com", role="manager", first_name="Tom", last_name="Trainer",
                       password=PASSWORD, now=now)
    program = create_program("Workplace Safety", owner=trainer, now=now)
    starts_at = (now + timedelta(days=10)).replace(hour=9, minute=0, second=0, microsecond=0)
    session = create_session(program, name="Spring session", starts_at=starts_at,
                             ends_at=starts_at + timedelta(hours=8), trainers=[trainer], actor=trainer, now=now)
    group = create_group("New hires", actor=None, now=now)
    assign_group(session, group, actor=trainer, now=now)
    outcome = invite_people([LEA, DAN], actor=trainer, now=now, group_ids=[group.id])
    assert outcome.invited == [LEA, DAN]
    db.session.commit()
    scheduler_runs_at(now)
    assert subjects(mailbox, LEA) == [PLATFORM_INVITATION]
    assert subjects(mailbox, DAN) == [PLATFORM_INVITATION]

    # Lea follows the link in her invitation email and registers (on her phone first, then a desktop).
    page.set_viewport_size(PHONE)
    page.goto(link_in(mailbox, LEA, PLATFORM_INVITATION, base_url))
    expect(page.get_by_role("heading", level=1, name="Join LMS")).to_be_visible()
    expect(page.get_by_text("Tom Trainer invited you.")).to_be_visible()
    expect(page.get_by_label("Email", exact=True)).to_have_value(LEA)
    snapshot(page, "learner-1-registration-phone")
    page.set_viewport_size({"width": 1280, "height": 720})
    snapshot(page, "learner-1-registration")
    register(page, "Lea", "Learner")
    page.wait_for_url(f"{base_url}/")
    expect(page.get_by_text("Welcome, Lea. Your account is ready.")).to_be_visible()
    expect(page.get_by_role("heading", level=1, name="Hello, Lea")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    row = my_programs_row(page)
    expect(row).to_contain_text("Workplace Safety")
    expect(row).to_contain_text("invited")
    expect(page.get_by_role("listitem").filter(has_text="New hires")).to_be_visible()
    snapshot(page, "learner-2-home-invited")

    # R4: the session email is due at the session's start, not before.
    scheduler_runs_at(starts_at - timedelta(minutes=1))
    assert SESSION_INVITATION not in subjects(mailbox, LEA)
    assert SESSION_INVITATION not in subjects(mailbox, DAN)
    scheduler_runs_at(starts_at)
    assert subjects(mailbox, LEA) == [PLATFORM_INVITATION, SESSION_INVITATION]

    page.goto(link_in(mailbox, LEA, SESSION_INVITATION, base_url))
    expect(page.get_by_role("heading", level=1, name="Workplace Safety")).to_be_visible()
    expect(page.get_by_text("Spring session", exact=True)).to_be_visible()
    expect(page.get_by_text("With Tom Trainer")).to_be_visible()
    snapshot(page, "learner-3-session-invitation")
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("status").filter(has_text="You accepted this session.")).to_be_visible()
    expect(page.get_by_role("button", name="Accept")).to_have_count(0)
    snapshot(page, "learner-4-session-accepted")

    page.get_by_role("link", name="Home", exact=True).click()
    row = my_programs_row(page)
    expect(row).to_contain_text("Workplace Safety")
    expect(row).to_contain_text("accepted")
    snapshot(page, "learner-5-my-programs")
    page.set_viewport_size(PHONE)
    snapshot(page, "learner-6-my-programs-phone")
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), "the page scrolls sideways on a phone"

    # Dan opens only the session email, in his own browser: he registers first, then declines.
    assert SESSION_INVITATION in subjects(mailbox, DAN)
    dan = new_context(viewport=PHONE).new_page()
    session_link = link_in(mailbox, DAN, SESSION_INVITATION, base_url)
    dan.goto(session_link)
    expect(dan.get_by_role("heading", level=1, name="Workplace Safety")).to_be_visible()
    expect(dan.get_by_text("First create your account with your invitation; then you can answer.")).to_be_visible()
    expect(dan.get_by_role("button", name="Decline")).to_have_count(0)
    snapshot(dan, "learner-7-session-invitation-unregistered-phone")
    dan.get_by_role("button", name="Create my account").click()
    expect(dan.get_by_role("heading", level=1, name="Join LMS")).to_be_visible()
    expect(dan.get_by_label("Email", exact=True)).to_have_value(DAN)
    register(dan, "Dan", "Decliner")
    dan.wait_for_url(session_link)  # back to the session, to answer it
    expect(dan.get_by_text("Welcome, Dan. Your account is ready.")).to_be_visible()

    dan.get_by_role("button", name="Decline").click()
    expect(dan.get_by_text("Decline this session?")).to_be_visible()  # asked first (issue 16, line 9)
    dan.get_by_role("button", name="Yes, decline").click()
    expect(dan.get_by_role("status").filter(has_text="You declined this session.")).to_be_visible()
    expect(dan.get_by_role("button", name="Accept", exact=True)).to_have_count(0)
    # Weeks before the session, he may still change his mind.
    expect(dan.get_by_role("button", name="Accept after all")).to_be_visible()
    snapshot(dan, "learner-8-session-declined-phone")
    dan.get_by_role("link", name="Home", exact=True).click()
    expect(my_programs_row(dan)).to_contain_text("declined")

    # Lea's answer stands.
    page.reload()
    expect(my_programs_row(page)).to_contain_text("accepted")
