"""The public pages of an invite link: what it lets you join, joining when signed in, signing in
and joining, newcomers confirming their address by email, dead links, and the limits on
guessing (rate limits, CSRF, no account enumeration)."""
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select, update

from lms.accounts.models import Role, User, UserStatus
from lms.enrollment.groups.models import GroupMembership
from lms.enrollment.links.models import InviteLink, InviteLinkUse, LinkSignup
from lms.enrollment.links.services import create_link, join_link, link_token
from lms.extensions import db
from lms.notifications.models import OutboxEmail
from lms.notifications.render import render_email
from lms.programs.models import Enrollment, EnrollmentStatus, ProgramSession, SessionGroup
from lms.programs.services import session_roster
from tests.conftest import PASSWORD, count, login, user_of
from tests.pages import field_error, flashes, text, utcnow, visible

NEW_PASSWORD = "my-own-secret-1"
FRENCH = {"Accept-Language": "fr"}

# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def group(make_group):
    return make_group("Sales North")


@pytest.fixture
def session(upcoming):
    return upcoming(name="Spring Run")


def make_link(actor=None, **fields):
    """A link made through the service (as the staff pages make it); committed. Returns its token."""
    fields.setdefault("target", "group" if fields.get("group") else "session" if fields.get("session")
                      else "platform")
    link = create_link(actor=actor, now=utcnow(), **fields)
    db.session.commit()
    return link_token(link)


def link_of(token):
    db.session.expire_all()
    return db.session.scalar(select(InviteLink).order_by(InviteLink.id.desc()))


def set_link(token, **values):
    link = link_of(token)
    db.session.execute(update(InviteLink).where(InviteLink.id == link.id).values(**values))
    db.session.commit()


def newcomer(email="newbie@example.com", *, first_name="Nia", last_name="Newbie"):
    """The newcomer's form: no password (the owner of the address chooses it on confirming)."""
    return {"new-email": email, "new-first_name": first_name, "new-last_name": last_name}


def chosen(password=NEW_PASSWORD, confirm=None):
    """The confirmation page's form: the password the owner of the address chooses."""
    return {"password": password, "confirm": password if confirm is None else confirm}


def signing_in(email, password=PASSWORD):
    return {"signin-email": email, "signin-password": password}


def is_member(group, user):
    db.session.expire_all()
    return user is not None and db.session.get(GroupMembership, (group.id, user.id)) is not None


def enrollment(session, user):
    db.session.expire_all()
    return db.session.scalar(select(Enrollment).where(Enrollment.session_id == session.id,
                                                      Enrollment.user_id == user.id))


def emails_to(address, kind=None):
    db.session.expire_all()
    query = select(OutboxEmail).where(OutboxEmail.recipient == address).order_by(OutboxEmail.id)
    if kind:
        query = query.where(OutboxEmail.kind == kind)
    return db.session.scalars(query).all()


def everything():
    """What joining can write: accounts, memberships, registrations, uses, sign-ups, emails, the links."""
    db.session.expire_all()
    return (
        db.session.execute(select(User.id, User.email, User.status, User.role, User.last_login_at)
                           .order_by(User.id)).all(),
        tuple(count(model) for model in (GroupMembership, Enrollment, InviteLinkUse, LinkSignup, OutboxEmail)),
        db.session.execute(select(InviteLink.id, InviteLink.use_count, InviteLink.revoked_at)
                           .order_by(InviteLink.id)).all(),
    )


def confirmation_path(address):
    """The confirmation link of the newest link_signup email to `address`, as a path."""
    email = emails_to(address, "link_signup")[-1]
    url = re.search(r"https?://\S+/join/confirm/[\w-]+", render_email(email).text).group(0)
    assert url.startswith("http://127.0.0.1:5000/")
    return urlsplit(url).path


def heading(response):
    return visible(re.search(r"<h1>(.*?)</h1>", text(response), re.S).group(1))


def signed_in(client):
    return client.get("/").status_code == 200


def sign_up_and_confirm(app, token, email):
    client = app.test_client()
    client.post(f"/join/{token}/new", data=newcomer(email))
    return client, client.post(confirmation_path(email), data=chosen())


def session_title(session):
    return f"{session.program.title} – {session.name}"


# --- the landing page ---------------------------------------------------------------------


def test_a_group_link_names_the_group_and_its_places_left(client, admin, group):
    token = make_link(admin, group=group, max_uses=3)

    response = client.get(f"/join/{token}")

    page = visible(text(response))
    assert response.status_code == 200
    assert heading(response) == "Join this group"
    assert "Shared by Ada Admin." in page
    assert "The group Sales North" in page
    assert "3 places left." in page
    assert "I am new here" in page and "Create my account" in page
    assert "I have an account" in page and "Sign in and join" in page


def test_a_group_link_names_the_sessions_its_members_are_invited_to(client, admin, group, session, now):
    db.session.add(SessionGroup(session_id=session.id, group_id=group.id, created_at=now))
    db.session.commit()
    token = make_link(admin, group=group)

    page = visible(text(client.get(f"/join/{token}")))

    assert "Members of this group are invited to:" in page
    assert f"{session.program.title} – Spring Run: {session.starts_at.day} {session.starts_at:%B %Y}" in page


def test_a_session_link_names_the_program_the_session_and_its_start(client, admin, session):
    token = make_link(admin, session=session, max_uses=1, self_registration=True)
    starts = session.starts_at

    response = client.get(f"/join/{token}")

    page = visible(text(response))
    assert response.status_code == 200
    assert heading(response) == "Join this session"
    assert f"{session.program.title} – Spring Run" in page
    assert f"Starts: {starts.day} {starts:%B %Y}, 09:00" in page
    assert "1 place left." in page
    assert "Joining registers you for the session." in page


def test_a_platform_link_names_the_platform_and_has_no_limit_to_tell(client, admin):
    token = make_link(admin)

    response = client.get(f"/join/{token}")

    page = visible(text(response))
    assert response.status_code == 200
    assert heading(response) == "Join LMS"
    assert "left." not in page
    assert "Then you are a member already." in page  # no sign-in form: nothing to join


def test_the_landing_page_tells_the_last_day_and_the_domain(client, admin, group):
    last_day = utcnow().date() + timedelta(days=5)
    token = make_link(admin, group=group, expires_on=last_day, allowed_domain="acme.example")

    page = visible(text(client.get(f"/join/{token}")))

    month, day, year = f"{last_day:%B}", last_day.day, last_day.year
    assert re.search(rf"This link works until ({month} {day}, {year}|{day} {month} {year})\.", page)
    assert "For addresses ending in @acme.example." in page


def test_a_signed_in_person_is_offered_to_join_with_one_click(learner_client, admin, group):
    token = make_link(admin, group=group)

    html = text(learner_client.get(f"/join/{token}"))

    assert f'action="/join/{token}/join"' in html
    assert "Join as Test User1" in visible(html)
    assert "Not learner@example.com?" in visible(html)
    assert "Create my account" not in html


# --- dead links ---------------------------------------------------------------------------


def kill(token, how, make_user):
    """Make the link dead in one of the ways a link dies."""
    link = link_of(token)
    if how == "revoked":
        set_link(token, revoked_at=utcnow())
    elif how == "expired":
        set_link(token, expires_at=utcnow() - timedelta(minutes=1))
    elif how == "exhausted":
        join_link(link, make_user("first@example.com"), now=utcnow())
        db.session.commit()
    elif how in ("ended", "archived"):
        values = {"starts_at": utcnow() - timedelta(days=2), "ends_at": utcnow() - timedelta(hours=1)} \
            if how == "ended" else {"archived_at": utcnow()}
        db.session.execute(update(ProgramSession).where(ProgramSession.id == link.session_id).values(**values))
        db.session.commit()


DEAD = {
    "revoked": ("This link has been switched off",
                "This link has been switched off by the person who shared it."),
    "expired": ("This link has expired", "This link has expired."),
    "exhausted": ("This link is full",
                  "This link has already been used as many times as it allows. It was for 1 person."),
    "ended": ("This session is over", "The session this link is for is over."),
    "archived": ("This session is over", "The session this link is for is over."),
}


@pytest.mark.parametrize("how", DEAD)
def test_a_dead_link_says_why_it_does_not_work(client, admin, session, make_user, how):
    token = make_link(admin, session=session, max_uses=1)
    kill(token, how, make_user)

    response = client.get(f"/join/{token}")

    title, message = DEAD[how]
    assert response.status_code == 410
    assert heading(response) == title
    page = visible(text(response))
    assert message in page
    assert "Ask Ada Admin (admin@example.com) for a new link." in page
    assert "Create my account" not in page


def test_an_expired_link_tells_its_last_day(client, admin, group, make_user):
    last_day = utcnow().date()
    token = make_link(admin, group=group, expires_on=last_day)
    set_link(token, expires_at=utcnow() - timedelta(minutes=1))

    response = client.get(f"/join/{token}")

    assert response.status_code == 410
    assert "It worked until" in visible(text(response))


def test_a_link_whose_accounts_are_deactivated_from_today_has_expired(client, admin, group):
    token = make_link(admin, group=group, deactivate_on=utcnow().date() + timedelta(days=1))
    set_link(token, deactivate_on=utcnow().date())

    response = client.get(f"/join/{token}")

    assert response.status_code == 410
    assert heading(response) == "This link has expired"


@pytest.mark.parametrize("token", ["not-a-real-token", "x" * 300])
def test_an_unknown_link_is_not_valid(client, token):
    response = client.get(f"/join/{token}")

    assert response.status_code == 404
    assert heading(response) == "This link is not valid"
    assert "Ask the person who shared it for the link again." in visible(text(response))


@pytest.mark.parametrize("how", DEAD)
@pytest.mark.parametrize("door", ["join", "sign-in", "new", "sent"])
def test_every_door_of_a_dead_link_shows_why_and_writes_nothing(app, admin, session, make_user, how, door):
    token = make_link(admin, session=session, max_uses=1)
    learner = make_user("learner@example.com")
    kill(token, how, make_user)
    client = login(app.test_client(), learner) if door == "join" else app.test_client()
    before = everything()

    if door == "sent":
        response = client.get(f"/join/{token}/sent")
    else:
        data = {"join": {}, "sign-in": signing_in("learner@example.com"), "new": newcomer()}[door]
        response = client.post(f"/join/{token}/{door}", data=data)

    assert response.status_code == 410
    assert heading(response) == DEAD[how][0]
    assert everything() == before
    assert enrollment(session, learner) is None
    if door == "sign-in":
        assert not signed_in(client)


@pytest.mark.parametrize("door", ["join", "sign-in", "new"])
def test_every_door_of_an_unknown_link_is_not_valid(app, make_user, door):
    learner = make_user("learner@example.com")
    client = login(app.test_client(), learner) if door == "join" else app.test_client()
    before = everything()
    data = {"join": {}, "sign-in": signing_in("learner@example.com"), "new": newcomer()}[door]

    response = client.post(f"/join/not-a-real-token/{door}", data=data)

    assert response.status_code == 404
    assert heading(response) == "This link is not valid"
    assert everything() == before


# --- joining when signed in ---------------------------------------------------------------


def test_a_signed_in_learner_joins_a_group_with_one_click(learner_client, admin, group):
    token = make_link(admin, group=group)
    learner = user_of("learner@example.com")

    response = learner_client.post(f"/join/{token}/join")

    assert response.status_code == 303
    assert response.location == "/"
    assert is_member(group, learner)
    link = link_of(token)
    assert link.use_count == 1
    assert db.session.scalar(select(InviteLinkUse.user_id).where(InviteLinkUse.link_id == link.id)) == learner.id
    assert "You joined the group Sales North." in flashes(text(learner_client.get("/")))


def test_a_signed_in_learner_joining_a_session_is_invited_and_sent_to_their_inbox(learner_client, admin, session):
    token = make_link(admin, session=session)
    learner = user_of("learner@example.com")

    response = learner_client.post(f"/join/{token}/join")

    assert response.status_code == 303
    assert response.location == "/inbox"
    place = enrollment(session, learner)
    assert place.status == EnrollmentStatus.invited and place.is_direct
    inbox = learner_client.get("/inbox")
    assert f"You are invited to {session_title(session)}: accept or decline it below." in flashes(text(inbox))
    assert "Spring Run" in visible(text(inbox))


def test_a_signed_in_learner_joining_a_self_registration_link_is_registered(learner_client, admin, session):
    token = make_link(admin, session=session, self_registration=True)
    learner = user_of("learner@example.com")

    response = learner_client.post(f"/join/{token}/join")

    assert response.status_code == 303
    assert response.location == "/"
    place = enrollment(session, learner)
    assert place.status == EnrollmentStatus.accepted and place.responded_at is not None
    assert f"You are registered for {session_title(session)}." in flashes(text(learner_client.get("/")))


def test_joining_twice_says_so_and_changes_nothing(app, learner_client, admin, group):
    token = make_link(admin, group=group, max_uses=5)
    learner_client.post(f"/join/{token}/join")
    learner_client.get("/")  # the first flash is read
    before = everything()

    response = learner_client.post(f"/join/{token}/join")

    assert response.status_code == 303
    assert "You had already joined Sales North through this link." in flashes(text(learner_client.get("/")))
    assert everything() == before
    assert link_of(token).use_count == 1
    assert "4 places left." in visible(text(app.test_client().get(f"/join/{token}")))


def test_someone_who_joined_is_told_so_when_they_open_the_link_again_even_once_it_is_full(
    app, learner_client, admin, group
):
    token = make_link(admin, group=group, max_uses=1)
    learner_client.post(f"/join/{token}/join")

    again = learner_client.get(f"/join/{token}")

    assert again.status_code == 200
    assert heading(again) == "You have already joined"
    assert "You joined through this link as learner@example.com." in visible(text(again))
    assert app.test_client().get(f"/join/{token}").status_code == 410  # full for anyone else


def test_a_signed_in_person_with_an_address_outside_the_links_domain_is_refused(learner_client, admin, group):
    token = make_link(admin, group=group, allowed_domain="acme.example")
    before = everything()

    response = learner_client.post(f"/join/{token}/join")

    assert response.status_code == 403
    assert heading(response) == "You cannot join through this link"
    page = visible(text(response))
    assert "This link is only for addresses ending in @acme.example." in page
    assert "You are signed in as learner@example.com." in page
    assert everything() == before


@pytest.mark.parametrize("door", ["join", "sign-in", "new"])
def test_a_forms_address_opened_directly_goes_back_to_the_links_page(client, admin, group, door):
    token = make_link(admin, group=group)

    response = client.get(f"/join/{token}/{door}")

    assert response.status_code == 302
    assert response.location == f"/join/{token}"


def test_an_anonymous_click_on_join_goes_back_to_the_landing_page(client, admin, group):
    token = make_link(admin, group=group)
    before = everything()

    response = client.post(f"/join/{token}/join")

    assert response.status_code == 303
    assert response.location == f"/join/{token}"
    assert everything() == before


# --- signing in and joining ---------------------------------------------------------------


def test_signing_in_with_the_right_password_joins_at_once(client, admin, group, make_user):
    learner = make_user("known@example.com", first_name="Kim")
    token = make_link(admin, group=group)

    response = client.post(f"/join/{token}/sign-in", data=signing_in("Known@Example.com"))

    assert response.status_code == 303
    assert response.location == "/"
    assert is_member(group, learner)
    home = client.get("/")
    assert home.status_code == 200 and "Hello, Kim" in text(home)
    assert "You joined the group Sales North." in flashes(text(home))


def test_signing_in_with_a_wrong_password_is_refused_and_changes_nothing(client, admin, group, make_user):
    learner = make_user("known@example.com")
    token = make_link(admin, group=group)
    before = everything()

    response = client.post(f"/join/{token}/sign-in", data=signing_in("known@example.com", "not-the-password"))

    html = text(response)
    assert response.status_code == 422
    assert "Wrong email or password." in flashes(html)
    assert re.search(r'<input[^>]*name="signin-email"[^>]*value="known@example.com"', html)
    assert "The group Sales North" in visible(html)
    assert everything() == before
    assert not is_member(group, learner)
    assert not signed_in(client)


def test_signing_in_with_an_empty_form_shows_the_fields_to_fill_in(client, admin, group):
    token = make_link(admin, group=group)

    response = client.post(f"/join/{token}/sign-in", data=signing_in("", ""))

    assert response.status_code == 422
    assert field_error(text(response), "signin-email") == "This field is required."
    assert field_error(text(response), "signin-password") == "This field is required."


# --- newcomers ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["group", "session", "platform"])
def test_a_newcomer_confirms_their_address_and_then_their_account_is_made_and_joins(
    app, client, admin, group, session, target
):
    fields = {"group": {"group": group}, "session": {"session": session},
              "platform": {"role": Role.manager}}[target]
    token = make_link(admin, **fields)

    response = client.post(f"/join/{token}/new", data=newcomer("Newbie@Example.com"))

    assert response.status_code == 303
    assert response.location == f"/join/{token}/sent"
    sent = client.get(response.location)
    assert sent.status_code == 200
    assert heading(sent) == "Check your inbox"
    assert "We sent an email to Newbie@Example.com." in visible(text(sent))
    assert user_of("newbie@example.com") is None  # nothing until the address is confirmed
    (email,) = emails_to("newbie@example.com")
    assert email.kind == "link_signup"
    path = confirmation_path("newbie@example.com")

    # Opening the link (as a mail scanner does) changes nothing.
    before = everything()
    opened = app.test_client().get(path)
    assert opened.status_code == 200
    assert heading(opened) == "Confirm your email address"
    assert "You are about to create the account newbie@example.com and join:" in visible(text(opened))
    assert "Confirm and join" in text(opened)
    assert everything() == before

    confirmed = client.post(path, data=chosen())

    user = user_of("newbie@example.com")
    assert user is not None and user.status == UserStatus.active
    assert (user.first_name, user.last_name) == ("Nia", "Newbie")
    assert user.role == (Role.manager if target == "platform" else Role.learner)
    assert confirmed.status_code == 303
    expected_flash = {"group": "You joined the group Sales North.",
                      "session": f"You are invited to {session_title(session)}: accept or decline it below.",
                      "platform": "Welcome to LMS."}[target]
    assert confirmed.location == ("/inbox" if target == "session" else "/")
    assert expected_flash in flashes(text(client.get(confirmed.location)))
    home = client.get("/")
    assert home.status_code == 200 and "Hello, Nia" in text(home)
    if target == "group":
        assert is_member(group, user)
    if target == "session":
        assert enrollment(session, user).status == EnrollmentStatus.invited
    assert link_of(token).use_count == 1
    assert count(LinkSignup) == 0
    assert app.test_client().post("/login", data={"email": "newbie@example.com",
                                                   "password": NEW_PASSWORD}).status_code == 303

    # The confirmation link works once.
    for method in ("GET", "POST"):
        again = app.test_client().open(path, method=method)
        assert again.status_code == 404
        assert heading(again) == "This confirmation link is not valid"
    assert count(User) == 2


def test_a_newcomer_on_a_self_registration_link_is_registered_once_confirmed(app, client, admin, session):
    token = make_link(admin, session=session, self_registration=True)

    _, confirmed = sign_up_and_confirm(app, token, "newbie@example.com")

    assert confirmed.status_code == 303 and confirmed.location == "/"
    assert enrollment(session, user_of("newbie@example.com")).status == EnrollmentStatus.accepted


def test_filling_in_the_form_again_replaces_the_first_confirmation_link(app, client, admin, group):
    token = make_link(admin, group=group)
    client.post(f"/join/{token}/new", data=newcomer())
    first = confirmation_path("newbie@example.com")
    client.post(f"/join/{token}/new", data=newcomer(first_name="Nina"))
    second = confirmation_path("newbie@example.com")

    assert first != second
    assert client.get(first).status_code == 404
    assert client.post(second, data=chosen()).status_code == 303
    assert user_of("newbie@example.com").first_name == "Nina"


@pytest.mark.parametrize("data, field, message", [
    (newcomer("not-an-email"), "new-email", None),
    (newcomer(""), "new-email", "This field is required."),
    (newcomer(first_name=""), "new-first_name", "This field is required."),
    (newcomer("someone@elsewhere.example"), "new-email", "This link is only for addresses ending in @acme.example."),
], ids=["bad email", "no email", "no first name", "wrong domain"])
def test_a_bad_newcomer_form_comes_back_with_the_message_next_to_the_field(client, admin, group, data, field,
                                                                           message):
    token = make_link(admin, group=group, allowed_domain="acme.example")
    before = everything()

    response = client.post(f"/join/{token}/new", data=data)

    html = text(response)
    assert response.status_code == 422
    error = field_error(html, field)
    assert error is not None
    if message is not None:
        assert error == message
    assert heading(response) == "Join this group"
    assert everything() == before


@pytest.mark.parametrize("form, field, message", [
    (chosen("short"), "password", "Field must be between 8 and 500 characters long."),
    (chosen(confirm="something-else"), "confirm", "The two passwords are not the same."),
    (chosen(""), "password", "This field is required."),
], ids=["short password", "mismatch", "no password"])
def test_a_bad_password_on_the_confirmation_page_comes_back_with_the_message_and_creates_nothing(
        client, admin, group, form, field, message):
    token = make_link(admin, group=group)
    client.post(f"/join/{token}/new", data=newcomer())
    path = confirmation_path("newbie@example.com")

    response = client.post(path, data=form)

    assert response.status_code == 422
    assert field_error(text(response), field) == message
    assert user_of("newbie@example.com") is None
    assert client.post(path, data=chosen()).status_code == 303  # the link still works


def test_someone_who_types_another_persons_address_never_chooses_that_accounts_password(app, admin, group):
    """Anyone may start a sign-up with any address; only its owner, from the email, sets the
    password, so the starter cannot sign in to the account the owner confirms."""
    token = make_link(admin, group=group)
    starter = app.test_client()
    starter.post(f"/join/{token}/new", data=newcomer("victim@example.com"))

    owner = app.test_client()
    page = owner.get(confirmation_path("victim@example.com"))
    assert 'name="password"' in text(page) and 'type="password"' in text(page)
    owner.post(confirmation_path("victim@example.com"), data=chosen("the-owners-own-passphrase"))

    assert signed_in(owner)
    assert starter.post("/login", data={"email": "victim@example.com", "password": NEW_PASSWORD}).status_code == 422
    assert login(app.test_client(), user_of("victim@example.com"), "the-owners-own-passphrase")


def test_a_newcomer_gets_the_email_and_the_account_in_the_language_of_the_page(client, admin, group):
    token = make_link(admin, group=group)

    client.post(f"/join/{token}/new", data=newcomer(), headers=FRENCH)

    (email,) = emails_to("newbie@example.com")
    assert email.language == "fr"
    assert render_email(email).subject == "Confirmez votre adresse e-mail pour rejoindre Sales North"
    client.post(confirmation_path("newbie@example.com"), data=chosen())
    assert user_of("newbie@example.com").language == "fr"


def test_a_newcomer_reading_the_page_in_french_is_told_of_a_bad_address_in_french(client, admin, group):
    token = make_link(admin, group=group)

    response = client.post(f"/join/{token}/new", data=newcomer("not-an-email"), headers=FRENCH)

    html = text(response)
    assert response.status_code == 422
    assert heading(response) == "Rejoindre ce groupe"
    error = field_error(html, "new-email")
    assert error is not None
    assert "is not a valid email address" not in error, error


@pytest.mark.parametrize("status", [UserStatus.active, UserStatus.invited, UserStatus.deactivated])
def test_an_address_that_has_an_account_gets_the_same_answer_as_a_new_one(app, admin, group, make_user, status):
    existing = make_user("known@example.com", status=status,
                         password=None if status == UserStatus.invited else PASSWORD)
    token = make_link(admin, group=group)
    answers = {}
    for address in ("known@example.com", "nobody@example.com"):
        client = app.test_client()
        response = client.post(f"/join/{token}/new", data=newcomer(address))
        page = client.get(response.location)
        answers[address] = (response.status_code, response.location, page.status_code,
                            visible(text(page)).replace(address, "ADDRESS"))

    assert answers["known@example.com"] == answers["nobody@example.com"]
    assert answers["known@example.com"][:3] == (303, f"/join/{token}/sent", 200)
    assert "We sent an email to ADDRESS." in answers["known@example.com"][3]
    known = user_of("known@example.com")
    assert (known.password_hash, known.status, known.first_name) == \
        (existing.password_hash, status, existing.first_name)
    assert count(User) == 2  # the admin and the existing account: nobody new
    assert [email.kind for email in emails_to("nobody@example.com")] == ["link_signup"]
    assert db.session.scalar(select(func.count()).select_from(LinkSignup)
                             .where(LinkSignup.email == "known@example.com")) == 0
    assert not is_member(group, existing)
    if status == UserStatus.deactivated:
        assert emails_to("known@example.com") == []  # nothing to offer them
    else:
        assert [email.kind for email in emails_to("known@example.com")] == ["link_existing_account"]
        assert f"/join/{token}" in render_email(emails_to("known@example.com")[0]).text


def test_two_newcomers_fill_a_two_place_session_link_and_the_third_is_told_it_is_full(app, admin, session):
    token = make_link(admin, session=session, max_uses=2)
    addresses = ["first@example.com", "second@example.com", "third@example.com"]
    clients = {}
    for address in addresses:
        clients[address] = app.test_client()
        assert clients[address].post(f"/join/{token}/new", data=newcomer(address)).status_code == 303

    for address in addresses[:2]:
        confirmed = clients[address].post(confirmation_path(address), data=chosen())
        assert confirmed.status_code == 303 and confirmed.location == "/inbox"
    refused = clients["third@example.com"].post(confirmation_path("third@example.com"), data=chosen())

    assert refused.status_code == 409
    assert heading(refused) == "Your account was not created"
    page = visible(text(refused))
    assert re.search(r"\bfull\b", page)
    assert "Spring Run" in page
    assert user_of("third@example.com") is None
    assert not signed_in(clients["third@example.com"])
    landing = app.test_client().get(f"/join/{token}")
    assert landing.status_code == 410
    assert heading(landing) == "This link is full"
    assert "It was for 2 people." in visible(text(landing))
    db.session.expire_all()
    registered = session_roster(db.session.get(ProgramSession, session.id))
    assert sorted(row["email"] for row in registered) == addresses[:2]
    assert link_of(token).use_count == 2


def test_a_confirmation_after_the_link_was_switched_off_creates_no_account(app, client, admin, group):
    token = make_link(admin, group=group)
    client.post(f"/join/{token}/new", data=newcomer())
    path = confirmation_path("newbie@example.com")
    set_link(token, revoked_at=utcnow())

    response = client.post(path, data=chosen())

    assert response.status_code == 409
    assert heading(response) == "Your account was not created"
    assert "switched off" in visible(text(response))
    assert user_of("newbie@example.com") is None
    assert not signed_in(client)


def test_opening_a_confirmation_after_the_link_died_says_so_before_any_click(app, client, admin, group):
    token = make_link(admin, group=group)
    client.post(f"/join/{token}/new", data=newcomer())
    path = confirmation_path("newbie@example.com")
    set_link(token, revoked_at=utcnow())

    response = client.get(path)

    assert response.status_code == 410
    assert heading(response) == "Your account was not created"
    assert "switched off" in visible(text(response))
    assert "Confirm and join" not in text(response)
    assert user_of("newbie@example.com") is None


def test_opening_a_dead_links_confirmation_keeps_the_sign_up_and_clicking_drops_it(app, client, admin, group):
    """Mail scanners open links: only the click may drop the sign-up (then it stops counting as
    waiting on the link's page); switched on again before any click, the link still works."""
    token = make_link(admin, group=group)
    client.post(f"/join/{token}/new", data=newcomer())
    path = confirmation_path("newbie@example.com")
    set_link(token, revoked_at=utcnow())

    client.get(path)
    kept = count(LinkSignup)
    set_link(token, revoked_at=None)
    confirmed = client.post(path, data=chosen())

    assert kept == 1
    assert confirmed.status_code == 303 and is_member(group, user_of("newbie@example.com"))


def test_clicking_confirm_on_a_dead_link_drops_the_sign_up(app, client, admin, group):
    token = make_link(admin, group=group)
    client.post(f"/join/{token}/new", data=newcomer())
    path = confirmation_path("newbie@example.com")
    set_link(token, revoked_at=utcnow())

    refused = client.post(path, data=chosen())

    assert refused.status_code == 409
    assert count(LinkSignup) == 0
    assert client.get(path).status_code == 404


def test_a_confirmation_for_an_address_that_got_an_account_meanwhile_says_to_sign_in(app, client, admin, group,
                                                                                     make_user):
    token = make_link(admin, group=group)
    client.post(f"/join/{token}/new", data=newcomer())
    path = confirmation_path("newbie@example.com")
    make_user("newbie@example.com", first_name="Already")

    response = client.post(path, data=chosen())

    assert response.status_code == 409
    assert heading(response) == "You already have an account"
    assert "An account with this address exists already: sign in to join." in visible(text(response))
    assert f'href="/join/{token}"' in text(response)
    assert user_of("newbie@example.com").first_name == "Already"
    assert not is_member(group, user_of("newbie@example.com"))


def test_an_expired_confirmation_link_says_so(app, client, admin, group):
    token = make_link(admin, group=group)
    client.post(f"/join/{token}/new", data=newcomer())
    path = confirmation_path("newbie@example.com")
    db.session.execute(update(LinkSignup).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()

    for method in ("GET", "POST"):
        response = client.open(path, method=method)
        assert response.status_code in (409, 410)
        assert heading(response) == "This confirmation link has expired"
    assert user_of("newbie@example.com") is None


# --- rate limits --------------------------------------------------------------------------


def test_guessing_link_addresses_is_refused_for_a_while(app, client, admin, group, rate_limit):
    token = make_link(admin, group=group)
    rate_limit("LMS_JOIN_RATE_LIMIT", "3 per minute")

    statuses = [client.get(f"/join/guess-{number}").status_code for number in range(3)]
    response = client.get("/join/guess-3")

    assert statuses == [404, 404, 404]
    assert response.status_code == 429
    assert heading(response) == "Too many attempts"
    assert "Too many requests came from your address. Wait a minute, then try again." in visible(text(response))
    # Once the budget is spent, the address gets nothing from the link pages, real links included.
    assert client.get(f"/join/{token}").status_code == 429
    assert client.get("/join/confirm/another-guess").status_code == 429


def test_a_room_opening_one_live_link_from_one_address_is_never_held_up(app, admin, group, rate_limit):
    token = make_link(admin, group=group)
    rate_limit("LMS_JOIN_RATE_LIMIT", "3 per minute")

    statuses = {app.test_client().get(f"/join/{token}").status_code for _ in range(10)}

    assert statuses == {200}


def test_newcomer_forms_count_against_the_budget_with_the_guesses(app, client, admin, group, rate_limit):
    """Each form sends an email: the budget bounds how many one address can have sent."""
    token = make_link(admin, group=group)
    rate_limit("LMS_JOIN_RATE_LIMIT", "3 per minute")

    statuses = [client.post(f"/join/{token}/new", data=newcomer(f"person{number}@example.com")).status_code
                for number in range(2)]
    statuses.append(client.get("/join/a-guess").status_code)
    before = everything()
    statuses.append(client.post(f"/join/{token}/new", data=newcomer("one-more@example.com")).status_code)

    assert statuses == [303, 303, 404, 429]
    assert everything() == before
    assert len(emails_to("one-more@example.com")) == 0


def test_password_guesses_through_a_links_sign_in_form_count_with_the_sign_in_pages(
    app, client, admin, group, make_user, rate_limit
):
    make_user("known@example.com")
    token = make_link(admin, group=group)
    rate_limit("LMS_LOGIN_RATE_LIMIT", "2 per minute")

    statuses = [client.post(f"/join/{token}/sign-in", data=signing_in("known@example.com", "wrong-guess"))
                .status_code for _ in range(2)]
    response = client.post("/login", data={"email": "known@example.com", "password": PASSWORD})

    assert statuses == [422, 422]
    assert response.status_code == 429
    assert not signed_in(client)


def test_signing_in_too_often_is_refused_for_a_while(app, client, make_user, rate_limit):
    make_user("known@example.com")
    rate_limit("LMS_LOGIN_RATE_LIMIT", "2 per minute")

    statuses = [client.post("/login", data={"email": "known@example.com", "password": "wrong-guess"}).status_code
                for _ in range(2)]
    response = client.post("/login", data={"email": "known@example.com", "password": PASSWORD})

    assert statuses == [422, 422]
    assert response.status_code == 429
    assert heading(response) == "Too many attempts"
    assert not signed_in(client)
    assert client.get("/login").status_code == 200  # the form still opens


# --- forged requests ----------------------------------------------------------------------


@pytest.mark.parametrize("door", ["join", "sign-in", "new", "confirm"])
def test_a_form_without_its_security_token_is_refused_and_writes_nothing(app, admin, group, make_user, door):
    token = make_link(admin, group=group)
    learner = make_user("learner@example.com")
    client = login(app.test_client(), learner) if door == "join" else app.test_client()
    if door == "confirm":
        client.post(f"/join/{token}/new", data=newcomer())
        path, data = confirmation_path("newbie@example.com"), chosen()
    else:
        path = f"/join/{token}/{door}"
        data = {"join": {}, "sign-in": signing_in("learner@example.com"), "new": newcomer()}[door]
    before = everything()

    response = client.post(path, data=data, csrf=False)

    assert response.status_code == 400
    assert "security token is missing" in visible(text(response))
    assert everything() == before
    assert not is_member(group, learner)
    assert user_of("newbie@example.com") is None


# --- a database too busy to write ---------------------------------------------------------


def test_a_write_that_waits_too_long_for_sqlite_says_busy_and_saves_nothing(
    app, backend, client, admin, group, monkeypatch
):
    """SQLite makes writers queue; one that waits past the busy timeout gets a page saying to
    try again (503), never a 500, and nothing of its form is written."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL writers wait on row locks, not on a database-wide one")
    import sqlite3

    from lms import extensions

    token = make_link(admin, group=group)
    monkeypatch.setattr(extensions, "SQLITE_BUSY_TIMEOUT_MS", 50)
    db.engine.dispose()  # new connections, with the short timeout
    before = everything()
    holder = sqlite3.connect(db.engine.url.database)
    holder.execute("BEGIN IMMEDIATE")  # another writer holding the lock
    try:
        response = client.post(f"/join/{token}/new", data=newcomer())
    finally:
        holder.rollback()
        holder.close()
        monkeypatch.undo()
        db.engine.dispose()

    assert response.status_code == 503
    assert heading(response) == "Busy"
    assert "The platform is busy and nothing was saved." in visible(text(response))
    assert everything() == before
