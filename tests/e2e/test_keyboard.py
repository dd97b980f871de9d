"""Without a mouse: the skip link, signing in, and filling a session's registration by
keyboard alone, with the focus always visible."""
from datetime import timedelta

from playwright.sync_api import expect

from lms.clock import utcnow
from lms.extensions import db
from lms.programs.services import create_program, create_session
from tests.conftest import PASSWORD
from tests.e2e.conftest import add_user, htmx_settled

FOCUS_SHOWN = """() => {
  const style = getComputedStyle(document.activeElement);
  return document.activeElement.matches(":focus-visible") && style.outlineStyle !== "none"
         && parseFloat(style.outlineWidth) >= 2;
}"""


def focused(page):
    """The focused element's accessible-ish name: its label, text, value or aria-label."""
    return page.evaluate(r"""() => {
      const element = document.activeElement;
      const label = element.labels && element.labels[0];
      return (label ? label.innerText : element.innerText || element.value
              || element.getAttribute('aria-label') || '').replace(/\s+/g, ' ').trim();
    }""")


def tab_to(page, name, limit=40):
    """Press Tab until the focused element is called `name`; each stop must show its focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUS_SHOWN), f"no visible focus on {focused(page)!r}"
        if focused(page) == name:
            return
    raise AssertionError(f"{name!r} cannot be reached with Tab")


def test_a_trainer_signs_in_and_adds_a_learner_with_the_keyboard_alone(page, site):
    now = utcnow()
    trainer = add_user("tom.trainer@example.com", role="manager", first_name="Tom", last_name="Trainer",
                       password=PASSWORD, now=now)
    add_user("alice.martin@example.com", first_name="Alice", last_name="Martin", now=now)
    program = create_program("Workplace Safety", owner=trainer, now=now)
    session = create_session(program, name="Spring session", starts_at=now + timedelta(days=14),
                             ends_at=now + timedelta(days=15), trainers=[trainer], actor=trainer, now=now)
    db.session.commit()

    page.goto("/login")
    assert focused(page) == "Email"  # the form is ready to type in
    page.keyboard.type(trainer.email)
    tab_to(page, "Password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Hello, Tom")).to_be_visible()

    page.goto(f"/sessions/{session.id}")
    tab_to(page, "Skip to content")
    page.keyboard.press("Enter")
    tab_to(page, "Programs")  # the breadcrumb: the first stop after the skip is in the page's content
    assert page.evaluate("() => document.querySelector('main').contains(document.activeElement)")
    tab_to(page, "+Learner")
    page.keyboard.type("alice.martin@example.com")  # someone outside their sessions: the exact address
    expect(page.get_by_role("button", name="Add alice.martin@example.com")).to_be_visible()
    htmx_settled(page)
    tab_to(page, "Add alice.martin@example.com")
    page.keyboard.press("Enter")
    expect(page.get_by_role("row").filter(has_text="alice.martin@example.com")).to_contain_text("direct")
