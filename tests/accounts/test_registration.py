"""Registering through an invitation link (R8, R9): the form, accepting, declining, dead links,
the invitation's language, and the ways around it that must not work."""
import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
from sqlalchemy import select, update

from lms.accounts.models import Role, UserStatus
from lms.enrollment.groups.models import GroupMembership
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.tokens import token_from_nonce
from tests.conftest import PASSWORD, signs_in, user_of
from tests.pages import field_error, flashes, input_value, text, utcnow, visible

NEW_PASSWORD = "my-own-secret-1"








def invite(email, *, actor, role=Role.learner, language="en", groups=()):
    """An invitation made as the invite form makes it; returns (invitation id, token)."""
    outcome = invite_people([email], actor=actor, now=utcnow(), role=role, language=language,
                            group_ids=[group.id for group in groups])
    db.session.commit()
    (invitation,) = outcome.invitations
    return invitation.id, token_from_nonce(invitation.token_nonce)


def invitation(invitation_id):
    db.session.expire_all()
    return db.session.get(Invitation, invitation_id)


def state(invitation_id):
    """What registering changes: the invitation and its user, read fresh."""
    inv = invitation(invitation_id)
    user = inv.user
    return (inv.status, inv.responded_at, user.status, user.role, user.first_name, user.last_name,
            user.password_hash)


def set_invitation(invitation_id, **values):
    db.session.execute(update(Invitation).where(Invitation.id == invitation_id).values(**values))
    db.session.commit()


def register_data(password=NEW_PASSWORD, confirm=None, first_name="Jane", last_name="Doe"):
    return {"first_name": first_name, "last_name": last_name, "password": password,
            "confirm": password if confirm is None else confirm}




# --- the form -----------------------------------------------------------------------------


def test_the_link_opens_a_form_with_the_email_fixed(client, admin):
    _, token = invite("newcomer@example.com", actor=admin)

    response = client.get(f"/invitation/{token}")

    html = text(response)
    assert response.status_code == 200
    assert re.search(r'<input id="email" type="email" value="newcomer@example.com" readonly', html)
    assert 'name="email"' not in html  # nothing to submit: the token fixes the address
    assert "Ada Admin invited you." in visible(html)
    assert input_value(html, "first_name") == "" and input_value(html, "last_name") == ""
    assert "Create my account" in html and "Decline the invitation" in html


def test_known_names_are_prefilled(client, admin, make_user):
    make_user("known@example.com", status=UserStatus.invited, password=None,
              first_name="Marie", last_name="Dubois")
    _, token = invite("known@example.com", actor=admin)

    html = text(client.get(f"/invitation/{token}"))

    assert input_value(html, "first_name") == "Marie"
    assert input_value(html, "last_name") == "Dubois"


def test_registering_signs_in_activates_the_account_and_applies_the_invitation(
    app, client, admin, admin_client, make_group
):
    group = make_group("Trainers")
    invitation_id, token = invite("newcomer@example.com", actor=admin, role=Role.manager, groups=[group])

    response = client.post(f"/invitation/{token}", data=register_data())

    assert response.status_code == 303
    assert response.location == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Hello, Jane" in text(home)
    assert "Welcome, Jane. Your account is ready." in text(home)
    assert "Sessions I train and attend" in text(home)  # the manager's home page
    inv = invitation(invitation_id)
    assert inv.status == InvitationStatus.accepted and inv.responded_at is not None
    user = user_of("newcomer@example.com")
    assert user.status == UserStatus.active and user.role == Role.manager
    assert (user.first_name, user.last_name) == ("Jane", "Doe")
    assert db.session.get(GroupMembership, (group.id, user.id)) is not None
    assert signs_in(app, "newcomer@example.com", NEW_PASSWORD)
    # The invitation email, not sent yet, is no longer needed.
    assert db.session.scalar(select(OutboxEmail.status).where(OutboxEmail.invitation_id == invitation_id)) \
        == OutboxStatus.cancelled
    listing = visible(text(admin_client.get("/admin/invitations?q=newcomer")))
    assert "newcomer@example.com" in listing and "accepted" in listing


@pytest.mark.parametrize("data, field, message", [
    (register_data(confirm="something-else"), "confirm", "The two passwords are not the same."),
    (register_data(password="short"), "password", "Field must be between 8 and 500 characters long."),
    (register_data(first_name="  "), "first_name", "This field is required."),
    (register_data(last_name=""), "last_name", "This field is required."),
], ids=["mismatch", "short", "no first name", "no last name"])
def test_a_bad_form_is_shown_again_with_the_message_next_to_the_field(app, client, admin, data, field, message):
    invitation_id, token = invite("newcomer@example.com", actor=admin)
    before = state(invitation_id)

    response = client.post(f"/invitation/{token}", data=data)

    html = text(response)
    assert response.status_code == 422
    assert field_error(html, field) == message
    assert re.search(rf'<input[^>]*aria-invalid="true"[^>]*name="{field}"|'
                     rf'<input[^>]*name="{field}"[^>]*aria-invalid="true"', html)
    assert state(invitation_id) == before
    assert before[0] == InvitationStatus.pending and before[6] is None
    assert client.get("/").status_code == 302  # not signed in
    assert not signs_in(app, "newcomer@example.com", data["password"])
    assert client.get(f"/invitation/{token}").status_code == 200  # the link still works


def test_a_used_link_gets_the_already_used_page(client, admin, app):
    _, token = invite("newcomer@example.com", actor=admin)
    client.post(f"/invitation/{token}", data=register_data())

    response = app.test_client().get(f"/invitation/{token}")

    html = text(response)
    assert response.status_code == 410
    assert "This invitation has already been used" in html
    assert "Sign in with your email and password." in visible(html)
    assert 'href="/login"' in html
    assert 'name="password"' not in html


def test_submitting_the_form_twice_keeps_the_first_password(app, client, admin):
    invitation_id, token = invite("newcomer@example.com", actor=admin)

    first = client.post(f"/invitation/{token}", data=register_data(password="first-password"))
    second = client.post(f"/invitation/{token}", data=register_data(password="second-password",
                                                                     first_name="Other"))

    assert first.status_code == 303
    assert second.status_code == 410
    assert "This invitation has already been used" in text(second)
    assert signs_in(app, "newcomer@example.com", "first-password")
    assert not signs_in(app, "newcomer@example.com", "second-password")
    assert user_of("newcomer@example.com").first_name == "Jane"
    assert invitation(invitation_id).status == InvitationStatus.accepted


# --- decline ------------------------------------------------------------------------------


def test_declining_shows_the_declined_page_and_later_visits_say_so(app, client, admin):
    invitation_id, token = invite("not-me@example.com", actor=admin)

    response = client.post(f"/invitation/{token}/decline")

    assert response.status_code == 200
    assert "Invitation declined" in text(response)
    assert "You will receive no more emails about this invitation." in visible(text(response))
    assert invitation(invitation_id).status == InvitationStatus.declined
    assert user_of("not-me@example.com").status == UserStatus.invited
    assert db.session.scalar(select(OutboxEmail.status).where(OutboxEmail.invitation_id == invitation_id)) \
        == OutboxStatus.cancelled

    for later in (app.test_client().get(f"/invitation/{token}"),
                  app.test_client().post(f"/invitation/{token}", data=register_data()),
                  app.test_client().post(f"/invitation/{token}/decline")):
        assert later.status_code == 410
        assert "You declined this invitation" in text(later)
        assert "Changed your mind? Ask Ada Admin (admin@example.com) to invite you again." in visible(text(later))
    assert not signs_in(app, "not-me@example.com", NEW_PASSWORD)
    assert invitation(invitation_id).status == InvitationStatus.declined


# --- dead links ---------------------------------------------------------------------------


@pytest.mark.parametrize("how, status, title, advice", [
    ("cancelled", 410, "This invitation was cancelled",
     "If you think this is a mistake, contact Ada Admin (admin@example.com)."),
    ("expired", 410, "This invitation has expired",
     "Ask Ada Admin (admin@example.com) to send you a new one."),
    ("unknown", 404, "This invitation link is not valid",
     "ask the person who invited you to send it again."),
])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_dead_link_gets_a_page_that_says_why_and_who_to_ask(app, client, admin, how, status, title,
                                                              advice, method):
    invitation_id, token = invite("late@example.com", actor=admin)
    if how == "cancelled":
        set_invitation(invitation_id, status=InvitationStatus.cancelled, cancelled_at=utcnow())
    elif how == "expired":  # past its date; the scheduler has not marked it yet
        set_invitation(invitation_id, expires_at=utcnow() - timedelta(minutes=1))
    else:
        token = token[:-4] + "AAAA"
    before = state(invitation_id)

    response = client.open(f"/invitation/{token}", method=method, data=register_data() if method == "POST" else None)

    html = text(response)
    assert response.status_code == status
    assert f"<h1>{title}</h1>" in html
    assert advice in visible(html)
    assert 'name="password"' not in html
    assert state(invitation_id) == before
    assert not signs_in(app, "late@example.com", NEW_PASSWORD)


def test_an_expired_link_says_when_it_expired(client, admin):
    invitation_id, token = invite("late@example.com", actor=admin)
    set_invitation(invitation_id, expires_at=datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc))

    response = client.get(f"/invitation/{token}")

    assert "It expired on January 15, 2026." in visible(text(response))


@pytest.mark.parametrize("token", ["x", "A" * 43, "A" * 500, "%00%ff", "not a token"])
def test_any_unknown_token_is_a_not_found_page_never_an_error(client, admin, token):
    for response in (client.get(f"/invitation/{token}"),
                     client.post(f"/invitation/{token}", data=register_data()),
                     client.post(f"/invitation/{token}/decline")):
        assert response.status_code == 404
        assert "This invitation link is not valid" in text(response)


def test_a_cancelled_invitation_without_inviter_says_to_ask_the_administrator(client, admin):
    outcome = invite_people(["cli@example.com"], actor=None, now=utcnow())
    db.session.commit()
    (inv,) = outcome.invitations
    token = token_from_nonce(inv.token_nonce)
    set_invitation(inv.id, status=InvitationStatus.cancelled)

    response = client.get(f"/invitation/{token}")

    assert response.status_code == 410
    assert "If you think this is a mistake, contact your administrator." in visible(text(response))


# --- language -----------------------------------------------------------------------------


@pytest.mark.parametrize("language, browser, join, submit, mismatch, welcome", [
    ("fr", "nl,en;q=0.5", "Rejoindre LMS", "Créer mon compte",
     "Les deux mots de passe ne sont pas identiques.", "Bienvenue, Jane. Votre compte est prêt."),
    ("nl", "fr,en;q=0.5", "Word lid van LMS", "Mijn account aanmaken",
     "De twee wachtwoorden zijn niet gelijk.", None),
])
def test_the_form_speaks_the_invitation_language_not_the_browser_one(client, admin, language, browser,
                                                                      join, submit, mismatch, welcome):
    _, token = invite("newcomer@example.com", actor=admin, language=language)
    headers = {"Accept-Language": browser}

    page = text(client.get(f"/invitation/{token}", headers=headers))
    refused = text(client.post(f"/invitation/{token}", data=register_data(confirm="different-one"),
                               headers=headers))
    accepted = client.post(f"/invitation/{token}", data=register_data(), headers=headers)

    assert f'<html lang="{language}">' in page
    assert f"<h1>{join}</h1>" in page
    assert submit in page and "Create my account" not in page
    assert field_error(refused, "confirm") == mismatch
    assert accepted.status_code == 303
    home = text(client.get("/", headers=headers))
    assert f'<html lang="{language}">' in home  # the account keeps the invitation's language
    if welcome:
        assert welcome in flashes(home)


@pytest.mark.parametrize("language, cancelled, declined, used", [
    ("fr", "Cette invitation a été annulée", "Vous avez refusé cette invitation",
     "Cette invitation a déjà été utilisée"),
    ("nl", "Deze uitnodiging is geannuleerd", "Je hebt deze uitnodiging geweigerd",
     "Deze uitnodiging is al gebruikt"),
])
def test_dead_link_pages_speak_the_invitation_language(app, admin, language, cancelled, declined, used):
    headers = {"Accept-Language": "en"}
    ids_tokens = [invite(f"{n}@example.com", actor=admin, language=language) for n in ("a", "b", "c")]
    set_invitation(ids_tokens[0][0], status=InvitationStatus.cancelled)
    app.test_client().post(f"/invitation/{ids_tokens[1][1]}/decline", headers=headers)
    app.test_client().post(f"/invitation/{ids_tokens[2][1]}", data=register_data(), headers=headers)

    for (_, token), title in zip(ids_tokens, (cancelled, declined, used)):
        response = app.test_client().get(f"/invitation/{token}", headers=headers)
        assert response.status_code == 410
        assert f"<h1>{title}</h1>" in unescape(text(response))
        assert f'<html lang="{language}">' in text(response)


# --- someone else signed in ---------------------------------------------------------------


def test_someone_signed_in_as_another_user_is_told_so_and_can_sign_out(learner_client, admin):
    invitation_id, token = invite("newcomer@example.com", actor=admin)
    before = state(invitation_id)

    page = learner_client.get(f"/invitation/{token}")
    posted = learner_client.post(f"/invitation/{token}", data=register_data())

    html = text(page)
    assert page.status_code == 409 and posted.status_code == 409
    assert "You are signed in as someone else" in html
    assert ("You are signed in as learner@example.com, but this invitation is for newcomer@example.com."
            in visible(html))
    form = re.search(r'<form method="post" action="([^"]+)">\s*<input type="hidden" name="csrf_token"[^>]*>'
                     r"\s*<button type=\"submit\">Sign out and continue</button>", html)
    assert form is not None
    assert state(invitation_id) == before
    assert user_of("learner@example.com").status == UserStatus.active

    signed_out = learner_client.post(unescape(form.group(1)))
    assert signed_out.status_code == 303
    assert signed_out.location == f"/invitation/{token}"
    assert learner_client.get(signed_out.location).status_code == 200


# --- no way around the invitation ---------------------------------------------------------


@pytest.mark.parametrize("password", ["anything", PASSWORD, NEW_PASSWORD])
def test_an_invited_email_cannot_sign_in_without_registering(client, admin, password):
    invite("newcomer@example.com", actor=admin)

    response = client.post("/login", data={"email": "newcomer@example.com", "password": password})

    assert response.status_code == 422
    assert "Wrong email or password." in text(response)
    assert client.get("/").status_code == 302


def test_there_is_no_registration_page(client):
    assert client.get("/register").status_code == 404
    assert client.post("/register", data={"email": "x@example.com", "password": NEW_PASSWORD}).status_code \
        in (404, 405)


def test_a_forged_registration_without_the_csrf_token_is_refused(app, client, admin):
    invitation_id, token = invite("newcomer@example.com", actor=admin)
    before = state(invitation_id)

    response = client.post(f"/invitation/{token}", data=register_data(), csrf=False)
    declined = client.post(f"/invitation/{token}/decline", csrf=False)

    assert response.status_code == 400 and declined.status_code == 400
    assert state(invitation_id) == before
    assert not signs_in(app, "newcomer@example.com", NEW_PASSWORD)
    assert client.get(f"/invitation/{token}").status_code == 200


def test_a_deactivated_invitee_cannot_reactivate_themselves_through_the_link(app, client, admin_client, admin):
    invitation_id, token = invite("let-go@example.com", actor=admin)
    user_id = user_of("let-go@example.com").id
    assert admin_client.post(f"/admin/users/{user_id}/deactivate").status_code == 303
    assert user_of("let-go@example.com").status == UserStatus.deactivated

    page = client.get(f"/invitation/{token}")
    posted = client.post(f"/invitation/{token}", data=register_data())

    assert user_of("let-go@example.com").status == UserStatus.deactivated
    assert invitation(invitation_id).status != InvitationStatus.accepted
    assert client.get("/").status_code == 302  # not signed in
    assert not signs_in(app, "let-go@example.com", NEW_PASSWORD)
    assert 400 <= page.status_code < 500 and 400 <= posted.status_code < 500
    assert "Create my account" not in text(page)
