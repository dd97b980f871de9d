"""Forgot password, the reset link, must-change at sign-in, and a person's own name."""
import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, text as sql

from lms.accounts.models import PasswordReset, UserStatus
from lms.accounts.recovery import find_password_reset, request_password_reset, reset_password
from lms.enrollment.invitations.models import Invitation
from lms.enrollment.invitations.services import cancel_invitations, invite_people
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.dispatcher import dispatch_due_emails
from lms.notifications.models import OutboxEmail, OutboxStatus
from tests.conftest import PASSWORD, count, htmx_headers, login, signs_in, user_of
from tests.pages import field_error, flashes, input_value, text, utcnow, visible

NEW_PASSWORD = "a-brand-new-secret"
RESET_LINK = re.compile(r"http://\S+/password/reset/[\w-]+")


def ask_for_a_link(client, email):
    return client.post("/password/forgot", data={"email": email})


def sent_to(smtp_server, address):
    dispatch_due_emails(now=utcnow())
    return smtp_server.to(address)


def body_of(message):
    return message.get_body(("plain",)).get_content()


def reset_link_in(message):
    return urlsplit(RESET_LINK.search(body_of(message)).group(0)).path


def set_password_through(client, link, password=NEW_PASSWORD, confirm=None):
    return client.post(link, data={"password": password, "confirm": confirm or password})




# --- asking for a link ----------------------------------------------------------------------


def test_the_sign_in_page_leads_to_forgot_password(client):
    html = text(client.get("/login"))
    assert 'href="/password/forgot"' in html
    assert "Forgot your password?" in visible(html)


def test_every_address_gets_the_same_answer_and_only_an_account_gets_a_link(app, client, make_user, admin,
                                                                               smtp_server, now):
    make_user("active@example.com")
    make_user("gone@example.com", status=UserStatus.deactivated)
    invite_people(["invited@example.com", "cancelled@example.com"], actor=admin, now=now)
    cancelled = db.session.scalar(select(Invitation).join(Invitation.user).where(
        Invitation.user.has(email="cancelled@example.com")))
    cancel_invitations([cancelled], actor=admin, now=now)
    db.session.commit()
    dispatch_due_emails(now=utcnow())
    smtp_server.messages.clear()

    answers = {}
    for address in ("active@example.com", "gone@example.com", "invited@example.com", "cancelled@example.com",
                    "nobody@example.com", "ACTIVE@Example.com"):
        response = ask_for_a_link(client, address)
        answers[address] = (response.status_code, response.headers["Location"],
                            visible(text(client.get(response.headers["Location"]))))

    assert len(set(answers.values())) == 1  # one answer, whoever asks
    status, location, page = answers["nobody@example.com"]
    assert (status, location) == (303, "/password/forgot/sent")
    assert "If an account uses that address" in page
    dispatch_due_emails(now=utcnow())
    assert {m["To"] for m in smtp_server.messages} == {"active@example.com", "invited@example.com"}
    assert len(smtp_server.to("active@example.com")) == 1  # ACTIVE@Example.com's link replaced the first
    assert RESET_LINK.search(body_of(smtp_server.to("active@example.com")[0]))
    (invitation_again,) = smtp_server.to("invited@example.com")
    assert "/invitation/" in body_of(invitation_again) and not RESET_LINK.search(body_of(invitation_again))


def test_the_answer_takes_as_long_for_an_unknown_address(app, client, make_user, monkeypatch):
    make_user("active@example.com")
    monkeypatch.setitem(app.config, "LMS_FORGOT_PASSWORD_SECONDS", 0.3)
    for address in ("active@example.com", "nobody@example.com"):
        started = time.monotonic()
        assert ask_for_a_link(client, address).status_code == 303
        assert time.monotonic() - started >= 0.3


def test_an_address_that_is_not_one_is_named_on_the_form(client):
    response = ask_for_a_link(client, "not an address")
    assert response.status_code == 422
    assert field_error(text(response), "email") == "Enter a valid email address, like name@example.com."


def test_a_forged_form_is_refused(app, make_user):
    make_user("active@example.com")
    response = app.test_client().post("/password/forgot", data={"email": "active@example.com", "csrf_token": "forged"})
    assert response.status_code in (400, 422)
    assert count(PasswordReset) == 0


def test_an_address_asking_too_often_gets_the_same_answer_and_no_more_emails(app, client, make_user, rate_limit):
    user = make_user("active@example.com")
    rate_limit("LMS_FORGOT_PASSWORD_PER_ADDRESS", "2 per hour")
    responses = [ask_for_a_link(client, "active@example.com") for _ in range(4)]
    assert [r.status_code for r in responses] == [303] * 4
    assert count(PasswordReset) == 2
    queued = db.session.scalars(select(OutboxEmail).where(OutboxEmail.user_id == user.id)).all()
    assert sorted(email.status for email in queued) == [OutboxStatus.cancelled, OutboxStatus.queued]


def test_a_client_asking_too_often_is_told_to_wait(app, client, rate_limit):
    rate_limit("LMS_FORGOT_PASSWORD_RATE_LIMIT", "3 per minute")
    statuses = [ask_for_a_link(client, f"someone{n}@example.com").status_code for n in range(4)]
    assert statuses == [303, 303, 303, 429]


# --- the link ---------------------------------------------------------------------------------


def test_the_link_sets_a_new_password_once_and_ends_every_other_session(app, client, make_user, smtp_server):
    user = make_user("active@example.com", first_name="Ann")
    other_device = login(app.test_client(), user)
    ask_for_a_link(client, "active@example.com")
    (message,) = sent_to(smtp_server, "active@example.com")
    assert "Hello Ann," in body_of(message)
    assert "The link works once, for 60 minutes." in body_of(message)
    link = reset_link_in(message)

    page = client.get(link)
    assert page.status_code == 200 and "active@example.com" in visible(text(page))
    response = set_password_through(client, link)
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?email=active@example.com"
    landing = text(client.get(response.headers["Location"]))
    assert "Your new password is set. Sign in with it." in flashes(landing)
    assert input_value(landing, "email") == "active@example.com"

    assert signs_in(app, "active@example.com", NEW_PASSWORD)
    assert not signs_in(app, "active@example.com", PASSWORD)
    assert other_device.get("/account").status_code == 302  # signed out there
    assert client.get(link).status_code == 410
    assert "This link no longer works" in visible(text(client.get(link)))
    assert set_password_through(client, link, "another-secret-9").status_code == 410
    assert signs_in(app, "active@example.com", NEW_PASSWORD)


def test_a_short_password_or_two_different_ones_are_named_and_the_link_still_works(app, client, make_user,
                                                                                    smtp_server):
    make_user("active@example.com")
    ask_for_a_link(client, "active@example.com")
    link = reset_link_in(sent_to(smtp_server, "active@example.com")[0])

    short = set_password_through(client, link, "short")
    assert short.status_code == 422 and field_error(text(short), "password") is not None
    different = set_password_through(client, link, NEW_PASSWORD, "not-the-same-one")
    assert field_error(text(different), "confirm") == "The two passwords are not the same."
    assert set_password_through(client, link).status_code == 303


def test_only_the_newest_link_works(app, client, make_user, smtp_server):
    make_user("active@example.com")
    ask_for_a_link(client, "active@example.com")
    first = reset_link_in(sent_to(smtp_server, "active@example.com")[0])
    ask_for_a_link(client, "active@example.com")
    second = reset_link_in(sent_to(smtp_server, "active@example.com")[1])

    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200


def test_a_link_expires_after_the_configured_time(app, make_user, now):
    user = make_user("active@example.com")
    request_password_reset("active@example.com", now=now)
    db.session.commit()
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.user_id == user.id))
    token = _token_of(reset)

    assert find_password_reset(token, now=now + timedelta(minutes=59)) is not None
    assert find_password_reset(token, now=now + timedelta(minutes=60)) is None
    assert find_password_reset("made-up-token", now=now) is None
    assert find_password_reset("x" * 5000, now=now) is None


def test_a_deactivated_account_cannot_use_a_link_it_got_before(app, client, make_user, admin, smtp_server):
    user = make_user("active@example.com")
    ask_for_a_link(client, "active@example.com")
    link = reset_link_in(sent_to(smtp_server, "active@example.com")[0])
    admin_client = login(app.test_client(), admin)
    admin_client.post(f"/admin/users/{user.id}/deactivate")

    assert client.get(link).status_code == 410
    assert set_password_through(client, link).status_code == 410
    assert not signs_in(app, "active@example.com", NEW_PASSWORD)


def test_two_clicks_on_one_link_set_one_password(app, make_user, now):
    user = make_user("active@example.com")
    request_password_reset("active@example.com", now=now)
    db.session.commit()
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.user_id == user.id))
    reset_password(reset, password=NEW_PASSWORD, now=now)
    db.session.commit()

    with pytest.raises(DomainError, match="This link was just used"):
        reset_password(reset, password="the-second-click", now=now)
    db.session.rollback()
    assert signs_in(app, "active@example.com", NEW_PASSWORD)


def test_the_database_holds_no_working_link(app, make_user, now):
    user = make_user("active@example.com")
    request_password_reset("active@example.com", now=now)
    db.session.commit()
    token = _token_of(db.session.scalar(select(PasswordReset).where(PasswordReset.user_id == user.id)))
    dump = repr(db.session.execute(sql("SELECT * FROM password_resets")).all()) + repr(
        db.session.execute(sql("SELECT * FROM outbox_emails")).all())
    assert token not in dump


def test_a_reset_clears_a_must_change_request(app, client, make_user, smtp_server):
    make_user("active@example.com", must_change_password=True)
    ask_for_a_link(client, "active@example.com")
    set_password_through(client, reset_link_in(sent_to(smtp_server, "active@example.com")[0]))
    assert user_of("active@example.com").must_change_password is False


def _token_of(reset):
    from lms.tokens import token_from_nonce

    return token_from_nonce(reset.token_nonce)


# --- must change at the next sign-in ----------------------------------------------------------


def test_an_admin_asks_for_a_new_password_and_every_page_asks_until_it_is_chosen(app, admin_client, make_user):
    user = make_user("learner@example.com", first_name="Lea", last_name="Learner")
    page = text(admin_client.get(f"/admin/users/{user.id}"))
    form = {"first_name": "Lea", "last_name": "Learner", "language": "en", "role": "learner",
            "must_change_password_shown": "1", "must_change_password": "y"}
    assert "Must change password at next sign-in" in visible(page)
    assert admin_client.post(f"/admin/users/{user.id}", data=form).status_code == 303
    assert user_of("learner@example.com").must_change_password is True

    learner = login(app.test_client(), user)
    for path in ("/", "/account", "/inbox"):
        response = learner.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/account/new-password")
    hx = learner.get("/inbox", headers=htmx_headers("main"))
    assert hx.headers["HX-Redirect"].startswith("/account/new-password")

    same = learner.post("/account/new-password", data={"password": PASSWORD, "confirm": PASSWORD})
    assert field_error(text(same), "password") == "This is the password you have now: choose another one."
    done = learner.post("/account/new-password?next=/inbox", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.headers["Location"] == "/inbox"
    assert learner.get("/inbox").status_code == 200
    assert user_of("learner@example.com").must_change_password is False
    assert signs_in(app, "learner@example.com", NEW_PASSWORD)


def test_signing_out_works_while_a_new_password_is_due(app, make_user):
    user = make_user("learner@example.com", must_change_password=True)
    learner = login(app.test_client(), user)
    assert learner.post("/logout").status_code == 303
    assert learner.get("/account").status_code == 302  # to sign in: signed out


def test_a_user_form_without_the_flag_leaves_it_as_it_is(app, admin_client, make_user):
    user = make_user("learner@example.com", must_change_password=True)
    form = {"first_name": "Lea", "last_name": "Learner", "language": "en", "role": "learner"}
    admin_client.post(f"/admin/users/{user.id}", data=form)
    assert user_of("learner@example.com").must_change_password is True


def test_changing_the_password_on_the_account_page_clears_the_flag(app, make_user):
    user = make_user("learner@example.com")
    client = login(app.test_client(), user)
    user.must_change_password = True
    db.session.commit()
    response = client.post("/account/new-password", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 303
    assert client.get("/account/new-password").status_code == 303  # nothing to do any more


# --- the account page ------------------------------------------------------------------------


def test_a_person_corrects_their_own_name(app, learner_client):
    page = text(learner_client.get("/account"))
    assert input_value(page, "names-first_name") == "Test"
    response = learner_client.post("/account", data={"names-first_name": " Zoë ", "names-last_name": "Ndiaye"})
    assert response.status_code == 303
    assert "Your name is saved." in flashes(text(learner_client.get("/account")))
    user = user_of("learner@example.com")
    assert (user.first_name, user.last_name) == ("Zoë", "Ndiaye")


def test_an_empty_name_is_named_and_nothing_changes(app, learner_client):
    response = learner_client.post("/account", data={"names-first_name": "", "names-last_name": "Ndiaye"})
    assert response.status_code == 422
    assert field_error(text(response), "names-first_name") is not None
    assert user_of("learner@example.com").last_name != "Ndiaye"


def test_the_account_page_speaks_the_persons_language(app, make_user):
    client = login(app.test_client(), make_user("lea@example.com", language="fr"))
    page = visible(text(client.get("/account")))
    assert "Votre nom" in page and "Mot de passe" in page


def test_the_forgot_password_pages_speak_the_browsers_language(client):
    page = visible(text(client.get("/password/forgot", headers={"Accept-Language": "nl"})))
    assert "Wachtwoord vergeten?" in page


# --- an admin sends the link ------------------------------------------------------------------


def test_an_admin_emails_a_reset_link_from_the_users_page(app, admin_client, make_user, smtp_server):
    user = make_user("learner@example.com")
    page = text(admin_client.get(f"/admin/users/{user.id}"))
    assert "Email a link to choose a new password" in visible(page)

    response = admin_client.post(f"/admin/users/{user.id}/password-link", headers=htmx_headers("user-status"))
    assert response.status_code == 200
    assert "A link to choose a new password is on its way to learner@example.com." in visible(text(response))
    (message,) = sent_to(smtp_server, "learner@example.com")
    assert app.test_client().get(reset_link_in(message)).status_code == 200
    history = visible(text(admin_client.get(f"/admin/audit?user={user.id}")))
    assert "Ada Admin" in history


def test_a_deactivated_account_gets_no_link_from_an_old_page(app, admin_client, make_user, smtp_server):
    user = make_user("gone@example.com", first_name="Gil", last_name="Gone", status=UserStatus.deactivated)
    response = admin_client.post(f"/admin/users/{user.id}/password-link")
    assert "Nothing was sent: Gil Gone's account is deactivated." in flashes(text(admin_client.get(
        response.headers["Location"])))
    assert sent_to(smtp_server, "gone@example.com") == []


def test_only_admins_send_reset_links(app, manager_client, make_user):
    user = make_user("learner@example.com")
    assert manager_client.post(f"/admin/users/{user.id}/password-link").status_code == 403
    assert count(PasswordReset) == 0
