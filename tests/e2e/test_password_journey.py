"""Journey: a learner who forgot their password asks for a link from the sign-in page, receives
it over SMTP, chooses a new password and signs in; the old password and the link no longer
work. Then a person given a temporary password by an admin is made to choose their own."""
import re

from playwright.sync_api import expect

from lms.clock import utcnow
from lms.due_work import run_due
from lms.enrollment.invitations.services import set_account
from lms.extensions import db
from tests.conftest import PASSWORD
from tests.e2e.conftest import add_user, snapshot

LEA = "lea.learner@example.com"
NEW_PASSWORD = "my-new-secret-2026"


def emails_go_out():
    run_due(now=utcnow())
    db.session.commit()


def plain_text(message):
    return message.get_body(("plain",)).get_content()


def try_to_sign_in(page, email, password):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_learner_resets_a_forgotten_password_from_the_sign_in_page(page, site, mailbox, base_url):
    add_user(LEA, first_name="Lea", password=PASSWORD, now=utcnow())

    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.get_by_label("Email").fill(LEA)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    snapshot(page, "password-1-check-your-email")

    emails_go_out()
    (message,) = mailbox.to(LEA)
    assert message["Subject"] == "Choose a new password for LMS"
    link = re.search(re.escape(base_url) + r"/password/reset/\S+", plain_text(message)).group()

    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Password again").fill(NEW_PASSWORD)
    snapshot(page, "password-2-choose")
    page.get_by_role("button", name="Set my new password").click()
    expect(page.get_by_text("Your new password is set. Sign in with it.")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value(LEA)

    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Welcome, Lea.")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    try_to_sign_in(page, LEA, PASSWORD)
    expect(page.get_by_text("Wrong email or password.")).to_be_visible()
    response = page.goto(link)
    assert response.status == 410
    expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()
    expect(page.get_by_role("button", name="Ask for a new link")).to_have_attribute("href", "/password/forgot")


def test_a_person_given_a_temporary_password_chooses_their_own_at_first_sign_in(page, site, mailbox, base_url):
    set_account("tim.temp@example.com", actor=None, now=utcnow(), first_name="Tim", last_name="Temp",
                generate_password=True)
    db.session.commit()
    emails_go_out()
    (message,) = mailbox.to("tim.temp@example.com")
    body = plain_text(message)
    assert "This password is temporary" in body
    temporary = re.search(r"Your password is: (\S+)", body).group(1)

    try_to_sign_in(page, "tim.temp@example.com", temporary)
    expect(page.get_by_role("heading", name="Choose your own password")).to_be_visible()
    page.goto("/inbox")  # any other page asks again
    expect(page.get_by_role("heading", name="Choose your own password")).to_be_visible()
    snapshot(page, "password-3-must-change")
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save my password").click()
    expect(page.get_by_text("Your password is changed.")).to_be_visible()
    expect(page).to_have_url(f"{base_url}/inbox")
    page.get_by_role("button", name="Sign out").click()
    try_to_sign_in(page, "tim.temp@example.com", temporary)
    expect(page.get_by_text("Wrong email or password.")).to_be_visible()
