"""Security behaviour a user or an attacker can observe: CSRF, sign-in, redirects, headers."""
import json
import re
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.security import check_password_hash

from lms.accounts.deactivation import deactivate_due_users, deactivate_user
from lms.accounts.models import Role, User, UserStatus
from lms.accounts.services import create_user
from lms.enrollment.groups.models import Group
from lms.extensions import db
from tests.conftest import PASSWORD

FORM_EXPIRED = "This form was not accepted because its security token is missing or has expired"
WRONG_CREDENTIALS = "Wrong email or password."


def visible(response):
    """The text a person reads: tags dropped (with their attributes), entities decoded."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def is_signed_in(client):
    return client.get("/").status_code == 200


# CSRF ---------------------------------------------------------------------------------------


def test_login_without_csrf_token_is_refused(client, make_user):
    user = make_user("ann@example.com")

    response = client.post("/login", data={"email": user.email, "password": PASSWORD}, csrf=False)

    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Form expired" in body
    assert FORM_EXPIRED in body
    assert not is_signed_in(client)
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at is None


def test_group_create_without_csrf_token_is_refused(admin_client):
    response = admin_client.post("/admin/groups", data={"name": "Forged group"}, csrf=False)

    assert response.status_code == 400
    assert FORM_EXPIRED in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Group)) == 0


def test_user_edit_without_csrf_token_is_refused(admin_client, make_user):
    user = make_user("bob@example.com", first_name="Bob", last_name="Builder")
    data = {"first_name": "Forged", "last_name": "Name", "language": "en", "role": "admin",
            "labels": "", "additional_info": "", "deactivate_on": ""}

    response = admin_client.post(f"/admin/users/{user.id}", data=data, csrf=False)

    assert response.status_code == 400
    assert FORM_EXPIRED in response.get_data(as_text=True)
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert (user.first_name, user.last_name, user.role) == ("Bob", "Builder", Role.learner)


def _body_csrf_token(response):
    match = re.search(r"<body\b[^>]*\bhx-headers='([^']*)'", response.get_data(as_text=True))
    assert match, "no hx-headers on <body>"
    return json.loads(unescape(match.group(1)))["X-CSRFToken"]


def test_login_page_puts_the_csrf_token_on_body_for_htmx(client, make_user):
    user = make_user("ann@example.com")
    token = _body_csrf_token(client.get("/login"))

    response = client.post("/login", data={"email": user.email, "password": PASSWORD},
                           headers={"X-CSRFToken": token}, csrf=False)

    assert response.status_code == 303
    assert is_signed_in(client)


def test_admin_page_csrf_token_on_body_lets_htmx_post(admin_client):
    token = _body_csrf_token(admin_client.get("/admin/groups"))

    response = admin_client.post("/admin/groups", data={"name": "Cohort A"},
                                 headers={"X-CSRFToken": token, "HX-Request": "true",
                                          "HX-Target": "group-create"}, csrf=False)

    assert response.status_code == 200
    assert db.session.scalar(sa.select(Group.name)) == "Cohort A"


def test_form_without_javascript_posts_its_hidden_csrf_token(client, make_user):
    user = make_user("ann@example.com")
    page = client.get("/login").get_data(as_text=True)
    (tag,) = re.findall(r'<input\b[^>]*\bname="csrf_token"[^>]*>', page)
    token = re.search(r'\bvalue="([^"]+)"', tag).group(1)

    response = client.post(
        "/login", data={"csrf_token": token, "email": user.email, "password": PASSWORD}, csrf=False
    )

    assert response.status_code == 303
    assert is_signed_in(client)


# htmx is served by the platform ---------------------------------------------------------------


def test_htmx_is_served_from_static(client):
    response = client.get("/static/htmx.min.js")

    assert response.status_code == 200
    assert "javascript" in response.mimetype
    assert b"htmx" in response.data
    response.close()


@pytest.mark.parametrize("path", [
    "/login", "/", "/admin/users", "/admin/users/{user}", "/admin/groups", "/admin/groups/{group}",
    "/admin/groups/{group}/candidates?q=ann", "/admin/nothing-here",
])
def test_pages_load_scripts_and_styles_from_the_platform_only(client, admin_client, make_user,
                                                             make_group, path):
    user = make_user("ann@example.com")
    group = make_group("Cohort A")
    page_client = client if path == "/login" else admin_client

    response = page_client.get(path.format(user=user.id, group=group.id))

    assert response.status_code in (200, 404)
    html = response.get_data(as_text=True)
    assert '<script src="/static/htmx.min.js"' in html
    assets = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]*)"', html)
    assert assets and all(url.startswith("/static/") for url in assets), assets
    for cdn in ("unpkg.com", "jsdelivr", "cdnjs", "googleapis", "//cdn"):
        assert cdn not in html


# Unknown ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path, data", [
    ("GET", "/admin/users/999999", None),
    ("POST", "/admin/users/999999", {"first_name": "X", "language": "en", "role": "learner"}),
    ("POST", "/admin/users/999999/deactivate", None),
    ("POST", "/admin/users/999999/reactivate", None),
    ("GET", "/admin/users/export?format=csv&group=999999", None),
    ("GET", "/admin/groups/999999", None),
    ("GET", "/admin/groups/999999/name", None),
    ("POST", "/admin/groups/999999/name", {"name": "New name"}),
    ("POST", "/admin/groups/999999/delete", None),
    ("GET", "/admin/groups/999999/candidates?q=a", None),
    ("POST", "/admin/groups/999999/members", {"user_id": "{user}"}),
    ("POST", "/admin/groups/{group}/members", {"user_id": "999999"}),
    ("POST", "/admin/groups/{group}/members/999999/remove", None),
    ("POST", "/admin/groups/999999/members/{user}/remove", None),
])
def test_unknown_ids_give_the_not_found_page(admin_client, make_user, make_group, method, path,
                                             data):
    ids = {"user": make_user("ann@example.com").id, "group": make_group("Cohort A").id}
    data = {key: value.format(**ids) for key, value in (data or {}).items()}

    response = admin_client.open(path.format(**ids), method=method, data=data)

    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "<html" in body
    assert "Not found" in visible(response)
    assert "There is nothing at this address." in visible(response)


# Signing in ----------------------------------------------------------------------------------


def test_wrong_password_and_unknown_email_look_the_same(client, make_user):
    make_user("ann@example.com")
    make_user("invited@example.com", status=UserStatus.invited, password=None)

    wrong_password = client.post("/login", data={"email": "ann@example.com", "password": "nope-nope"})
    unknown_email = client.post("/login", data={"email": "who@example.com", "password": "nope-nope"})
    no_password_yet = client.post("/login", data={"email": "invited@example.com",
                                                  "password": "nope-nope"})

    assert wrong_password.status_code == unknown_email.status_code == no_password_yet.status_code
    assert visible(wrong_password) == visible(unknown_email) == visible(no_password_yet)
    assert WRONG_CREDENTIALS in visible(unknown_email)
    assert not is_signed_in(client)


def test_deactivated_account_cannot_sign_in(client, make_user):
    user = make_user("gone@example.com", status=UserStatus.deactivated)

    response = client.post("/login", data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 422
    assert ("This account has been deactivated. Ask your administrator to reactivate it."
            in visible(response))
    assert WRONG_CREDENTIALS not in visible(response)
    assert not is_signed_in(client)


def test_deactivated_account_with_wrong_password_gets_the_generic_message(client, make_user):
    user = make_user("gone@example.com", status=UserStatus.deactivated)

    response = client.post("/login", data={"email": user.email, "password": "not-the-password"})

    assert WRONG_CREDENTIALS in visible(response)
    assert "deactivated" not in visible(response)


def _deactivate_by_admin(admin_client, user, now):
    response = admin_client.post(f"/admin/users/{user.id}/deactivate")
    assert response.status_code == 303


def _deactivate_by_service(admin_client, user, now):
    deactivate_user(db.session.get(User, user.id), actor=None, now=now)
    db.session.commit()


def _deactivate_by_scheduled_date(admin_client, user, now):
    db.session.get(User, user.id).deactivate_on = date(2026, 3, 1)
    db.session.commit()
    assert deactivate_due_users(now=now) == 1
    db.session.commit()


@pytest.mark.parametrize("deactivate", [
    _deactivate_by_admin, _deactivate_by_service, _deactivate_by_scheduled_date,
], ids=["admin in another session", "service", "scheduled date"])
@pytest.mark.parametrize("remember", [False, True], ids=["session", "remember me"])
def test_signed_in_user_is_signed_out_once_deactivated(app, admin_client, make_user, now,
                                                       deactivate, remember):
    user = make_user("ann@example.com")
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                           "remember": "y" if remember else ""})
    assert response.status_code == 303
    assert client.get("/").status_code == 200

    deactivate(admin_client, user, now)

    response = client.get("/")
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/login"
    assert client.get("/admin/users").status_code == 302


def test_logout_is_post_only(learner_client):
    response = learner_client.get("/logout")

    assert response.status_code == 405
    assert is_signed_in(learner_client)

    response = learner_client.post("/logout")

    assert response.status_code == 303
    assert response.location == "/login"
    assert not is_signed_in(learner_client)


@pytest.mark.parametrize("next_url", [
    "//evil.example", "https://evil.example", "https://evil.example/admin/groups",
    "http:evil.example", "/\\evil.example", "///evil.example", "javascript:alert(1)",
])
def test_login_refuses_to_redirect_off_site(client, make_user, next_url):
    user = make_user("ann@example.com")

    response = client.post("/login", query_string={"next": next_url},
                           data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 303
    # How a browser reads the Location header (it treats a backslash as a slash).
    landing = urlsplit(urljoin("http://localhost/login", response.location.replace("\\", "/")))
    assert (landing.scheme, landing.netloc) == ("http", "localhost")
    if "\\" not in next_url:
        assert response.location == "/"


def test_login_follows_a_same_site_next(client, admin):
    response = client.post("/login", query_string={"next": "/admin/groups"},
                           data={"email": admin.email, "password": PASSWORD})

    assert response.status_code == 303
    assert response.location == "/admin/groups"
    assert client.get(response.location).status_code == 200


def test_redirect_to_login_then_back_to_the_page_asked_for(client, admin):
    response = client.get("/admin/groups")
    assert response.status_code == 302

    login_page = client.get(response.location)
    form_action = urlsplit(response.location)
    response = client.post(f"{form_action.path}?{form_action.query}",
                           data={"email": admin.email, "password": PASSWORD})

    assert login_page.status_code == 200
    assert response.location == "/admin/groups"


# Stored passwords ----------------------------------------------------------------------------


def test_create_user_stores_an_scrypt_hash(app, client, now):
    create_user("Carla@Example.com", now=now, password="a-long-passphrase", status=UserStatus.active)
    db.session.commit()

    stored = db.session.scalar(sa.select(User.password_hash).filter_by(email="carla@example.com"))
    assert stored.startswith("scrypt:")
    assert "a-long-passphrase" not in stored
    assert check_password_hash(stored, "a-long-passphrase")
    response = client.post("/login", data={"email": "carla@example.com",
                                           "password": "a-long-passphrase"})
    assert response.status_code == 303


# Response headers ----------------------------------------------------------------------------


@pytest.mark.parametrize("role, path", [
    (None, "/login"),
    (None, "/"),
    (None, "/static/htmx.min.js"),
    ("admin", "/admin/users"),
    ("admin", "/admin/users/export?format=csv"),
    ("admin", "/admin/users/999999"),
    ("learner", "/admin/users"),
])
def test_security_headers_are_set(app, request, role, path):
    client = request.getfixturevalue(f"{role}_client" if role else "client")

    response = client.get(path)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self';")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    if not path.startswith("/static/"):
        assert response.headers["Cache-Control"] == "no-store"
    response.close()


def test_pages_carry_no_inline_script_or_handler(admin_client):
    """What the CSP forbids is not in the pages (the browser tests check the console too)."""
    for path in ("/", "/admin/users", "/admin/invitations", "/admin/imports/new", "/admin/groups", "/programs"):
        body = admin_client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", body), path
        assert not re.search(r"\son[a-z]+=|\shx-on", body), path


def test_https_platforms_send_hsts(app, client, monkeypatch):
    from lms import create_app
    from lms.config import config_for_testing

    config = config_for_testing(app.instance_path, app.config["SQLALCHEMY_DATABASE_URI"])
    config.BASE_URL = "https://lms.example"
    secure = create_app(config).test_client()

    assert secure.get("/login").headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_the_csv_export_says_its_charset_once(admin_client):
    response = admin_client.get("/admin/users/export?format=csv")

    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"


# Sessions end when they should ----------------------------------------------------------------


def session_cookie(client):
    return client.get_cookie("session").value


def test_a_session_cookie_copied_before_sign_out_no_longer_works_after(app, client, make_user):
    user = make_user("kim@example.com")
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    stolen = session_cookie(client)

    client.post("/logout")

    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert not is_signed_in(thief)


def test_signing_out_ends_the_other_devices_sessions_too(app, make_user):
    user = make_user("kim@example.com")
    phone, laptop = app.test_client(), app.test_client()
    for device in (phone, laptop):
        device.post("/login", data={"email": user.email, "password": PASSWORD})

    phone.post("/logout")

    assert not is_signed_in(laptop)


def test_a_new_password_ends_the_other_sessions_and_keeps_this_one(app, make_user):
    user = make_user("kim@example.com")
    here, elsewhere = app.test_client(), app.test_client()
    for device in (here, elsewhere):
        device.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})

    response = here.post("/account", data={"password-current_password": PASSWORD,
                                           "password-new_password": "a-brand-new-passphrase",
                                           "password-confirm": "a-brand-new-passphrase"})

    assert response.status_code == 303
    assert is_signed_in(here)
    assert not is_signed_in(elsewhere)  # its remember cookie too


def test_the_remember_cookie_lasts_two_weeks(client, make_user):
    user = make_user("kim@example.com")

    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})

    (cookie,) = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("remember_token=")]
    assert "HttpOnly" in cookie
    expires = re.search(r"Expires=([^;]+)", cookie).group(1)
    days = (parsedate_to_datetime(expires) - datetime.now(timezone.utc)).days
    assert 13 <= days <= 14


def test_a_deactivation_date_that_has_come_refuses_sign_in_before_the_scheduler_runs(client, make_user):
    from lms.clock import platform_today, utcnow

    user = make_user("leaver@example.com")
    user.deactivate_on = platform_today(utcnow())
    db.session.commit()

    response = client.post("/login", data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 422
    assert "This account has been deactivated." in visible(response)


def test_a_signed_in_person_whose_deactivation_date_has_come_is_signed_out_and_deactivated(app, make_user):
    from lms.clock import platform_today, utcnow

    user = make_user("leaver@example.com")
    client = app.test_client()
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    user.deactivate_on = platform_today(utcnow())
    db.session.commit()

    assert not is_signed_in(client)
    db.session.expire_all()
    assert db.session.get(User, user.id).status == UserStatus.deactivated


# Odd input: a clear answer, never a 500 -------------------------------------------------------------


@pytest.mark.parametrize("method, path, data", [
    ("POST", "/inbox/notices/read", {"notice_id": "²"}),
    ("POST", "/admin/invitations/bulk", {"action": "resend", "ids": "²"}),
    ("GET", "/admin/users?page=99999999999999999999", None),
    ("GET", "/admin/invitations?page=99999999999999999999", None),
    ("GET", "/admin/outbox?page=%C2%B2", None),
    ("GET", "/admin/imports/new?from=%C2%B2", None),
    ("POST", "/admin/imports/new", {"draft": "²", "roster": "Doe, Jane, jane@example.com", "mode": "create",
                                    "language": "en", "role": "learner"}),
    ("POST", "/admin/links/new", {"target": "platform", "role": "learner", "expires_on": "9999-12-31"}),
])
def test_odd_values_get_an_answer_not_an_error(admin_client, method, path, data):
    response = admin_client.open(path, method=method, data=data)

    assert response.status_code < 500, response.get_data(as_text=True)


def test_a_link_that_would_expire_in_9999_is_refused_with_the_reason(admin_client):
    response = admin_client.post("/admin/links/new", data={"target": "platform", "role": "learner",
                                                           "expires_on": "9999-12-31"})

    assert response.status_code == 422
    assert "Choose a date up to 2099-12-31." in visible(response)


def test_a_qr_code_of_an_odd_size_is_a_bad_request(admin_client):
    from lms.enrollment.links.services import create_link

    from lms.clock import utcnow

    link = create_link(actor=None, now=utcnow(), target="platform")
    db.session.commit()

    assert admin_client.get(f"/admin/links/{link.id}/qr.png?size=²").status_code == 400


def test_a_user_form_posted_without_its_additional_information_saves(admin_client, make_user):
    user = make_user("kim@example.com")

    response = admin_client.post(f"/admin/users/{user.id}", data={
        "first_name": "Kim", "last_name": "Lee", "language": "en", "role": "learner", "labels": ""})

    assert response.status_code == 303


@pytest.mark.parametrize("path", ["/admin/users", "/admin/outbox", "/admin/invitations", "/admin/audit"])
def test_a_list_page_ignores_query_names_that_links_would_obey(app, admin_client, make_user, path):
    for number in range(55):  # two pages: the pager's links are built from the query string
        make_user(f"person{number}@example.com")
    response = admin_client.get(f"{path}?endpoint=x&_external=1&_scheme=javascript&q=")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "javascript:" not in html
    assert not re.search(r'href="https?://localhost', html)
