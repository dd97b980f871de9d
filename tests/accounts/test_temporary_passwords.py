"""Temporary passwords from Set an account: generated, emailed once over SMTP, sealed while they
wait and gone once sent, and the person must choose their own at first sign-in."""
import re

from lms.notifications.dispatcher import dispatch_due_emails
from tests.conftest import database_dump, user_of
from tests.pages import field_error, flashes, text, utcnow, visible

TEMPORARY = re.compile(r"Your password is: (\S+)")


def set_an_account(admin_client, **fields):
    data = {"email": "tim@example.com", "first_name": "Tim", "last_name": "Temp", "role": "learner",
            "language": "en", "send_email": "y", "password_choice": "generate", **fields}
    return admin_client.post("/admin/accounts/new", data=data)




def test_the_form_offers_a_generated_password_first(admin_client):
    page = text(admin_client.get("/admin/accounts/new"))
    assert re.search(r'<input[^>]*checked[^>]*value="generate"|<input[^>]*value="generate"[^>]*checked', page)
    assert "Generate a temporary password and email it" in visible(page)


def test_a_generated_password_reaches_the_person_only_and_must_be_changed(app, admin_client, smtp_server):
    response = set_an_account(admin_client)
    assert response.status_code == 303
    landing = text(admin_client.get(response.headers["Location"]))
    assert "Account created for tim@example.com. A temporary password is on its way by email." in flashes(landing)
    user = user_of("tim@example.com")
    assert user.must_change_password is True
    waiting = database_dump("outbox_emails", "audit_events", "users")

    dispatch_due_emails(now=utcnow())
    (message,) = smtp_server.to("tim@example.com")
    body = message.get_body(("plain",)).get_content()
    temporary = TEMPORARY.search(body).group(1)
    assert len(temporary) >= 16
    assert "This password is temporary: you will choose your own when you first sign in." in body
    assert temporary not in waiting  # sealed while it waited; the audit holds no copy
    assert temporary not in database_dump("outbox_emails", "audit_events", "users", "import_jobs")
    assert "sealed_password" not in database_dump("outbox_emails")  # and the row forgot even that

    person = app.test_client()
    signed_in = person.post("/login", data={"email": "tim@example.com", "password": temporary})
    assert signed_in.status_code == 303
    assert person.get("/").headers["Location"].startswith("/account/new-password")
    chosen = person.post("/account/new-password", data={"password": "tims-own-secret", "confirm": "tims-own-secret"})
    assert chosen.status_code == 303
    assert person.get("/").status_code == 200
    assert app.test_client().post("/login", data={"email": "tim@example.com", "password": temporary}).status_code == 422


def test_two_accounts_get_two_different_passwords(app, admin_client, smtp_server):
    set_an_account(admin_client, email="one@example.com")
    set_an_account(admin_client, email="two@example.com")
    dispatch_due_emails(now=utcnow())
    passwords = {TEMPORARY.search(m.get_body(("plain",)).get_content()).group(1) for m in smtp_server.messages}
    assert len(passwords) == 2


def test_a_generated_password_without_the_email_is_refused(app, admin_client):
    response = set_an_account(admin_client, send_email=None)
    assert response.status_code == 422
    assert "A generated password reaches the person only by email" in field_error(text(response), "send_email")
    assert user_of("tim@example.com") is None


def test_choosing_the_password_needs_one(app, admin_client):
    response = set_an_account(admin_client, password_choice="choose")
    assert response.status_code == 422
    assert field_error(text(response), "password") == "Enter the password, or choose to generate one."


def test_a_chosen_password_can_be_required_to_change_too(app, admin_client, smtp_server):
    set_an_account(admin_client, password_choice="choose", password="chosen-by-admin", must_change_password="y")
    assert user_of("tim@example.com").must_change_password is True
    person = app.test_client()
    person.post("/login", data={"email": "tim@example.com", "password": "chosen-by-admin"})
    assert person.get("/inbox").headers["Location"].startswith("/account/new-password")
