"""The staff pages of invite links: create (admins anything, managers learner links to what they
train), the link's page with its ways to share it and its QR code, the list, changing a link's
terms (maximum uses, last day, domain) at the same address, switching a link off and on again."""
import io
import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from lms.accounts.models import Role, User
from lms.enrollment.links.models import InviteLink, InviteLinkTarget
from lms.enrollment.links.services import create_link, join_link, link_token
from lms.extensions import db
from lms.programs.models import SessionGroup
from tests.conftest import htmx_headers, login
from tests.pages import field_error, flashes, input_value, text, utcnow, visible

# --- helpers ------------------------------------------------------------------------------


def link_data(target="group", *, group=None, session=None, **fields):
    """The new-link form as a browser sends it (an unticked checkbox is not sent)."""
    data = {"target": target, "group_id": str(group.id) if group else "",
            "session_id": str(session.id) if session else "", "role": "learner", "max_uses": "",
            "expires_on": "", "allowed_domain": "", "deactivate_on": ""}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def links():
    db.session.expire_all()
    return db.session.scalars(select(InviteLink).order_by(InviteLink.id)).all()


def link_count():
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(InviteLink))


def reload(link):
    db.session.expire_all()
    return db.session.get(InviteLink, link.id)


def make_link(actor=None, **fields):
    """A link made through the service, as any door would; committed."""
    fields.setdefault("target", "group" if fields.get("group") else "session" if fields.get("session")
                      else "platform")
    link = create_link(actor=actor, now=utcnow(), **fields)
    db.session.commit()
    return link


def url_of(app, link):
    return f"{app.config['BASE_URL']}/join/{link_token(link)}"


def options(html, name):
    """[(value, label, selected)] of a <select>."""
    select_html = re.search(rf'<select[^>]*name="{name}".*?</select>', html, re.S).group(0)
    return [(value, visible(label), "selected" in attributes)
            for attributes, value, label in re.findall(r'<option([^>]*)value="([^"]*)"[^>]*>(.*?)</option>',
                                                       select_html, re.S)]


def option_values(html, name):
    return [value for value, _, _ in options(html, name) if value]


def selected(html, name):
    chosen = [value for value, _, is_selected in options(html, name) if is_selected]
    return chosen[0] if chosen else None


def radios(html, name):
    """{value: checked} of a group of radio buttons."""
    return {re.search(r'value="([^"]*)"', tag).group(1): " checked" in tag
            for tag in re.findall(rf'<input[^>]*name="{name}"[^>]*type="radio"[^>]*>', html)}


def href(html, prefix):
    return unescape(re.search(rf'href="({re.escape(prefix)}[^"]*)"', html).group(1))


def table_rows(html):
    """{link id: {column label: visible text}} of the links table."""
    rows = {}
    for link_id, row in re.findall(r'<tr id="link-(\d+)">(.*?)</tr>', html, re.S):
        rows[int(link_id)] = {label: visible(cell) for label, cell in
                              re.findall(r'<td data-label="([^"]+)">(.*?)</td>', row, re.S)}
    return rows


def heading(response):
    return visible(re.search(r"<h1>(.*?)</h1>", text(response), re.S).group(1))


def png(response):
    return Image.open(io.BytesIO(response.data))


def decoded(response):
    (barcode,) = zxingcpp.read_barcodes(png(response))
    return barcode.text


@pytest.fixture
def manager(manager_client):
    return db.session.scalar(select(User).where(User.email == "manager@example.com"))


@pytest.fixture
def trained(app, manager, make_group, upcoming, now):
    """A session the manager trains, with a group assigned to it; and a session and a group
    of someone else's."""
    session = upcoming(trainer=manager, name="Trained Run")
    group = make_group("Trained Cohort")
    db.session.add(SessionGroup(session_id=session.id, group_id=group.id, created_at=now))
    db.session.commit()
    return {"session": session, "group": group, "other_session": upcoming(name="Foreign Run"),
            "other_group": make_group("Foreign Cohort")}


# --- creating a link ----------------------------------------------------------------------


def test_an_admin_creates_a_group_link_with_its_terms_and_lands_on_its_page(app, admin_client, admin, make_group):
    group = make_group("Sales North")
    last_day = utcnow().date() + timedelta(days=30)

    response = admin_client.post("/admin/links/new", data=link_data(
        "group", group=group, max_uses="25", expires_on=last_day.isoformat(), allowed_domain="@Acme.example"))

    (link,) = links()
    assert response.status_code == 303
    assert response.location == f"/admin/links/{link.id}"
    assert (link.target, link.group_id, link.session_id) == (InviteLinkTarget.group, group.id, None)
    assert (link.role, link.max_uses, link.use_count) == (Role.learner, 25, 0)
    assert link.allowed_domain == "acme.example"
    assert link.created_by_id == admin.id and link.revoked_at is None and not link.is_self_registration
    detail = admin_client.get(response.location)
    page = visible(text(detail))
    assert "Link created. Share it, or print its QR code." in page
    assert heading(detail) == "Sales North"
    assert "Invite link to a group" in page
    assert "Uses 0 of 25 (25 left)" in page
    assert f"Works until {last_day.isoformat()}" in page
    assert "Email addresses only @acme.example" in page
    assert "Active" in page


def test_an_admin_creates_a_self_registration_link_to_a_session(admin_client, upcoming):
    session = upcoming(name="Spring Run")

    response = admin_client.post("/admin/links/new", data=link_data("session", session=session,
                                                                    self_registration="y"))

    (link,) = links()
    assert response.status_code == 303
    assert response.location == f"/admin/links/{link.id}"
    assert (link.target, link.session_id, link.group_id) == (InviteLinkTarget.session, session.id, None)
    assert link.is_self_registration
    detail = admin_client.get(response.location)
    page = visible(text(detail))
    assert heading(detail) == f"{session.program.title} – Spring Run"
    assert "Invite link to a session" in page
    assert "Self-registration: joiners are registered as accepted." in page
    assert "Uses 0 of no limit" in page and "Works until no expiry" in page


def test_an_admin_creates_a_platform_link_that_makes_managers(admin_client):
    deactivate_on = utcnow().date() + timedelta(days=60)

    response = admin_client.post("/admin/links/new", data=link_data(
        "platform", role="manager", deactivate_on=deactivate_on.isoformat()))

    (link,) = links()
    assert response.status_code == 303
    assert response.location == f"/admin/links/{link.id}"
    assert (link.target, link.group_id, link.session_id) == (InviteLinkTarget.platform, None, None)
    assert link.role == Role.manager and link.deactivate_on == deactivate_on
    detail = admin_client.get(response.location)
    page = visible(text(detail))
    assert heading(detail) == "LMS"
    assert "Invite link to the platform" in page
    assert "Role of new accounts Manager (trainer)" in page
    assert f"Accounts deactivated on {deactivate_on.isoformat()}" in page


@pytest.mark.parametrize("target", ["platform", "group", "session"])
def test_the_link_page_gives_the_address_a_copy_button_share_links_and_the_qr_code(
    app, admin_client, make_group, upcoming, target
):
    fields = {"group": {"group": make_group("Sales North")}, "session": {"session": upcoming(name="Spring Run")},
              "platform": {}}[target]
    response = admin_client.post("/admin/links/new", data=link_data(target, **fields))
    (link,) = links()
    url = url_of(app, link)
    name = {"group": "Sales North", "platform": "LMS",
            "session": f"{link.session.program.title} – Spring Run" if link.session else None}[target]
    assert url.startswith("http://127.0.0.1:5000/join/")

    html = text(admin_client.get(response.location))

    assert re.search(rf'<input id="link-url" type="text" readonly value="{re.escape(url)}"', html)
    assert re.search(r'<button type="button" data-copy="#link-url">Copy link</button>', html)
    mailto = urlsplit(href(html, "mailto:"))
    assert url in parse_qs(mailto.query)["body"][0]
    subject = parse_qs(mailto.query)["subject"][0]
    assert subject == ("Join LMS" if target == "platform" else f"Join {name} on LMS")
    assert f"You can join {name} with this link:" in parse_qs(mailto.query)["body"][0]
    assert url in parse_qs(urlsplit(href(html, "sms:")).query)["body"][0]
    whatsapp = href(html, "https://wa.me/?text=")
    assert url in parse_qs(urlsplit(whatsapp).query)["text"][0]
    if target == "session":
        assert "Starts: " in parse_qs(urlsplit(whatsapp).query)["text"][0]
    image = re.search(r'<img class="qr" src="([^"]+)"[^>]*alt="([^"]+)"', html)
    assert unescape(image.group(1)) == f"/admin/links/{link.id}/qr.png?size=400&download=0"
    assert image.group(2) == f"QR code of the link {url}"
    preview = admin_client.get(unescape(image.group(1)))
    assert preview.status_code == 200 and preview.mimetype == "image/png"
    assert "Content-Disposition" not in preview.headers  # shown in the page, not downloaded
    assert decoded(preview) == url
    assert re.search(rf'<a href="/admin/links/{link.id}/qr.png" role="button" download>Download PNG', html)
    assert re.search(rf'<a href="/admin/links/{link.id}/qr.svg"[^>]*download>Download SVG', html)


@pytest.mark.parametrize("target", ["session", "group"])
def test_the_new_link_form_opened_from_a_session_or_a_group_has_it_chosen(
    admin_client, make_group, upcoming, target
):
    group, other_group = make_group("Sales North"), make_group("Sales South")
    session, other_session = upcoming(name="Spring Run"), upcoming(name="Autumn Run")
    chosen = {"group": group, "session": session}[target]

    response = admin_client.get(f"/admin/links/new?{target}={chosen.id}")

    html = text(response)
    assert response.status_code == 200
    assert radios(html, "target") == {"platform": False, "group": target == "group",
                                      "session": target == "session"}
    assert selected(html, f"{target}_id") == str(chosen.id)
    assert set(option_values(html, "group_id")) == {str(group.id), str(other_group.id)}
    assert set(option_values(html, "session_id")) == {str(session.id), str(other_session.id)}


def test_the_new_link_form_opened_from_a_session_the_manager_cannot_share_says_so(manager_client, trained):
    response = manager_client.get(f"/admin/links/new?session={trained['other_session'].id}")

    html = text(response)
    assert response.status_code == 200
    assert field_error(html, "session_id") == ("You cannot share a link to this session: it is over, "
                                               "or not one you manage.")
    assert str(trained["other_session"].id) not in option_values(html, "session_id")


def test_the_new_link_form_starts_on_the_platform_for_a_learner_account(admin_client):
    html = text(admin_client.get("/admin/links/new"))

    assert radios(html, "target") == {"platform": True, "group": False, "session": False}
    assert selected(html, "role") == "learner"
    assert option_values(html, "role") == ["learner", "manager"]


def test_sessions_that_are_over_are_not_offered(admin_client, make_session, upcoming):
    over = make_session(starts_at=utcnow() - timedelta(days=3), ends_at=utcnow() - timedelta(days=2))
    ongoing = make_session(starts_at=utcnow() - timedelta(days=1), ends_at=utcnow() + timedelta(days=1))
    future = upcoming()

    html = text(admin_client.get("/admin/links/new"))

    assert option_values(html, "session_id") == [str(ongoing.id), str(future.id)]  # soonest first
    assert str(over.id) not in option_values(html, "session_id")


def yesterday():
    return (utcnow().date() - timedelta(days=1)).isoformat()


@pytest.mark.parametrize("fields, field, message", [
    ({"target": "group"}, "group_id", "Choose the group."),
    ({"target": "session"}, "session_id", "Choose the session."),
    ({"expires_on": yesterday()}, "expires_on", "Choose an expiry date from today on."),
    ({"expires_on": "31/12/2030"}, "expires_on", "Not a valid date value."),
    ({"allowed_domain": "not a domain"}, "allowed_domain",
     "“not a domain” is not an email domain such as @acme.example."),
    ({"max_uses": "0"}, "max_uses", "Enter a number from 1 to 100,000."),
    ({"max_uses": "100001"}, "max_uses", "Enter a number from 1 to 100,000."),
    ({"deactivate_on": yesterday()}, "deactivate_on", "Choose a deactivation date after today."),
    ({"role": "admin"}, "role", "Not a valid choice."),
], ids=["no group", "no session", "past expiry", "junk date", "junk domain", "max uses 0", "max uses too many",
        "past deactivation", "admin role"])
def test_a_bad_link_form_comes_back_with_the_message_next_to_the_field(admin_client, fields, field, message):
    response = admin_client.post("/admin/links/new", data=link_data(**{"target": "platform", **fields}))

    html = text(response)
    assert response.status_code == 422
    error = field_error(html, field)
    assert error is not None
    assert error.startswith(message[:-1]) if message.endswith("…") else error == message
    assert "<html" in html and 'name="target"' in html
    assert link_count() == 0


def test_a_self_registration_tick_left_on_a_group_link_is_ignored(admin_client, make_group):
    """The box shows for sessions only; ticked for a session and then hidden by choosing a group,
    it is still sent. (The service would refuse it: the page never asks it to.)"""
    group = make_group("Sales North")

    response = admin_client.post("/admin/links/new", data=link_data("group", group=group, self_registration="y"))

    (link,) = links()
    assert response.status_code == 303
    assert link.target == InviteLinkTarget.group and not link.is_self_registration
    assert "Self-registration" not in visible(text(admin_client.get(response.location)))


def test_the_form_keeps_what_was_typed_when_it_comes_back(admin_client, upcoming):
    session = upcoming()

    response = admin_client.post("/admin/links/new", data=link_data(
        "session", session=session, max_uses="12", expires_on=yesterday(), allowed_domain="@acme.example"))

    html = text(response)
    assert response.status_code == 422
    assert radios(html, "target")["session"]
    assert selected(html, "session_id") == str(session.id)
    assert re.search(r'<input[^>]*name="max_uses"[^>]*value="12"', html)
    assert re.search(r'<input[^>]*name="allowed_domain"[^>]*value="@acme.example"', html)


# --- managers -----------------------------------------------------------------------------


def test_a_manager_is_offered_learner_links_to_what_they_train_only(manager_client, trained):
    html = text(manager_client.get("/admin/links/new"))

    assert set(radios(html, "target")) == {"group", "session"}
    assert option_values(html, "role") == ["learner"]
    assert option_values(html, "group_id") == [str(trained["group"].id)]
    assert option_values(html, "session_id") == [str(trained["session"].id)]
    assert "Foreign Run" not in html and "Foreign Cohort" not in html


@pytest.mark.parametrize("target", ["group", "session"])
def test_a_manager_creates_a_learner_link_to_what_they_train(manager_client, manager, trained, target):
    response = manager_client.post("/admin/links/new", data=link_data(target, **{target: trained[target]}))

    (link,) = links()
    assert response.status_code == 303
    assert response.location == f"/admin/links/{link.id}"
    assert link.created_by_id == manager.id and link.role == Role.learner
    assert getattr(link, f"{target}_id") == trained[target].id
    assert manager_client.get(response.location).status_code == 200


@pytest.mark.parametrize("target, field, message", [
    ("group", "group_id", "Choose the group."),
    ("session", "session_id", "Choose the session."),
])
def test_a_manager_cannot_forge_a_link_to_what_they_do_not_train(manager_client, trained, target, field, message):
    response = manager_client.post("/admin/links/new", data=link_data(target, **{target: trained[f"other_{target}"]}))

    html = text(response)
    assert response.status_code == 422
    assert field_error(html, field) == message
    assert "Foreign Run" not in html and "Foreign Cohort" not in html
    assert link_count() == 0


@pytest.mark.parametrize("fields, field", [
    ({"role": "manager"}, "role"),
    ({"target": "platform"}, "target"),
], ids=["manager role", "platform"])
def test_a_manager_cannot_forge_a_manager_link_or_a_platform_link(manager_client, trained, fields, field):
    response = manager_client.post("/admin/links/new", data=link_data(
        **{"target": "session", "session": trained["session"], **fields}))

    assert response.status_code == 422
    assert field_error(text(response), field) == "Not a valid choice."
    assert link_count() == 0


def test_a_manager_cannot_open_a_link_to_what_they_do_not_train(manager_client, admin, trained):
    foreign = make_link(admin, session=trained["other_session"])
    foreign_group = make_link(admin, group=trained["other_group"])

    for link in (foreign, foreign_group):
        for path in ("", "/qr.png", "/qr.svg"):
            response = manager_client.get(f"/admin/links/{link.id}{path}")
            assert response.status_code == 403, path
        assert manager_client.post(f"/admin/links/{link.id}/revoke").status_code == 403
        assert reload(link).revoked_at is None
    listing = text(manager_client.get("/admin/links"))
    assert table_rows(listing) == {}
    assert "Foreign Run" not in listing and "Foreign Cohort" not in listing


def test_a_manager_manages_learner_links_of_others_to_what_they_train_but_not_manager_links(
    manager_client, admin, trained
):
    learners = make_link(admin, session=trained["session"])
    managers = make_link(admin, session=trained["session"], role=Role.manager)

    assert manager_client.get(f"/admin/links/{learners.id}").status_code == 200
    assert manager_client.get(f"/admin/links/{managers.id}").status_code == 403
    assert set(table_rows(text(manager_client.get("/admin/links")))) == {learners.id}


def test_the_link_page_lists_who_joined_and_who_is_still_to_confirm(app, admin_client, admin, make_user,
                                                                     make_group):
    link = make_link(admin, group=make_group("Sales North"), max_uses=5)
    joined = make_user("joined@example.com", first_name="Jo", last_name="Joiner")
    join_link(link, joined, now=utcnow())
    db.session.commit()
    app.test_client().post(f"/join/{link_token(link)}/new", data={
        "new-email": "newbie@example.com", "new-first_name": "Nia", "new-last_name": "Newbie",
        "new-password": "long-enough-1", "new-confirm": "long-enough-1"})

    html = text(admin_client.get(f"/admin/links/{link.id}"))

    page = visible(html)
    assert "Uses 1 of 5 (4 left); 1 awaiting email confirmation" in page
    assert "Who joined" in page and "Jo Joiner joined@example.com" in page
    assert f'<a href="/admin/users/{joined.id}">Jo Joiner</a>' in html
    assert "newbie@example.com" not in page  # not an account yet


# --- the list -----------------------------------------------------------------------------


def test_the_list_shows_each_links_uses_expiry_creator_and_state(admin_client, admin, make_user, make_group,
                                                                  upcoming):
    group = make_group("Sales North")
    last_day = utcnow().date() + timedelta(days=10)
    counted = make_link(admin, group=group, max_uses=10, expires_on=last_day)
    for email in ("one@example.com", "two@example.com"):
        join_link(counted, make_user(email), now=utcnow())
    db.session.commit()
    full = make_link(admin, session=upcoming(name="Spring Run"), max_uses=1)
    join_link(full, make_user("three@example.com"), now=utcnow())
    db.session.commit()
    anonymous = make_link(None)
    switched_off = make_link(admin, group=group)
    switched_off.revoked_at = utcnow()
    db.session.commit()

    response = admin_client.get("/admin/links")

    html = text(response)
    assert response.status_code == 200 and "<html" in html
    rows = table_rows(html)
    assert list(rows) == [switched_off.id, anonymous.id, full.id, counted.id]  # newest first
    assert rows[counted.id]["Joins"] == "Group: Sales North"
    assert rows[counted.id]["Uses"] == "2 / 10"
    assert rows[counted.id]["Works until"] == last_day.isoformat()
    assert rows[counted.id]["Created by"].startswith("Ada Admin")
    assert rows[counted.id]["State"] == "Active"
    assert rows[full.id]["Uses"] == "1 / 1" and rows[full.id]["State"] == "Full"
    assert rows[full.id]["Joins"].startswith("Session: Program ") and rows[full.id]["Joins"].endswith("Spring Run")
    assert rows[anonymous.id]["Uses"] == "0 / no limit"
    assert rows[anonymous.id]["Works until"] == "no expiry"
    assert rows[anonymous.id]["Joins"] == "The platform"
    assert rows[switched_off.id]["State"] == "Switched off"
    assert "Switch on again" in re.search(rf'<tr id="link-{switched_off.id}">.*?</tr>', html, re.S).group(0)


def test_the_list_counts_newcomers_still_to_confirm_their_address(app, admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"))
    client = app.test_client()
    client.post(f"/join/{link_token(link)}/new", data={
        "new-email": "newbie@example.com", "new-first_name": "Nia", "new-last_name": "Newbie",
        "new-password": "long-enough-1", "new-confirm": "long-enough-1"})

    rows = table_rows(text(admin_client.get("/admin/links")))

    assert rows[link.id]["Uses"] == "0 / no limit 1 awaiting email confirmation"


def test_the_list_refreshed_by_htmx_is_the_table_only(admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"))

    response = admin_client.get("/admin/links", headers=htmx_headers("link-table"))

    html = text(response)
    assert response.status_code == 200
    assert "<html" not in html and "Add people" not in html
    assert list(table_rows(html)) == [link.id]


def test_an_empty_list_says_how_to_start(admin_client):
    page = visible(text(admin_client.get("/admin/links")))

    assert "No invite link yet." in page
    assert "New invite link" in page


# --- switching a link off and on ----------------------------------------------------------


def test_switching_a_link_off_and_on_again_is_what_its_visitors_see(app, admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"))
    public = app.test_client()
    landing = f"/join/{link_token(link)}"

    response = admin_client.post(f"/admin/links/{link.id}/revoke")

    assert response.status_code == 303
    assert response.location == f"/admin/links/{link.id}"
    assert reload(link).revoked_at is not None
    page = text(admin_client.get(response.location))
    assert "Link switched off: it no longer lets anyone join." in flashes(page)
    assert '<span class="badge badge-link-revoked">Switched off</span>' in page
    assert "Switch on again" in page
    dead = public.get(landing)
    assert dead.status_code == 410
    assert "This link has been switched off" in visible(text(dead))

    response = admin_client.post(f"/admin/links/{link.id}/enable")

    assert response.status_code == 303
    assert response.location == f"/admin/links/{link.id}"
    assert reload(link).revoked_at is None
    page = text(admin_client.get(response.location))
    assert "Link switched on again." in flashes(page)
    assert '<span class="badge badge-link-live">Active</span>' in page
    assert public.get(landing).status_code == 200


def test_switching_a_full_link_on_again_says_it_still_lets_nobody_join(admin_client, admin, make_group, make_user):
    link = make_link(admin, group=make_group("Sales North"), max_uses=1)
    join_link(link, make_user(), now=utcnow())
    db.session.commit()
    admin_client.post(f"/admin/links/{link.id}/revoke")
    admin_client.get(f"/admin/links/{link.id}")  # the flash is read

    response = admin_client.post(f"/admin/links/{link.id}/enable")

    page = text(admin_client.get(response.location))
    assert flashes(page) == ["Link switched on again. It still lets nobody join: it is full."]
    assert '<span class="badge badge-link-exhausted">Full</span>' in page


def test_switching_a_link_off_twice_says_it_was_already_off(admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"))
    admin_client.post(f"/admin/links/{link.id}/revoke")
    admin_client.get(f"/admin/links/{link.id}")  # the flash is read
    revoked_at = reload(link).revoked_at

    response = admin_client.post(f"/admin/links/{link.id}/revoke")

    assert response.status_code == 303
    assert "This link was already switched off." in flashes(text(admin_client.get(response.location)))
    assert reload(link).revoked_at == revoked_at
    admin_client.post(f"/admin/links/{link.id}/enable")
    admin_client.get(f"/admin/links/{link.id}")
    response = admin_client.post(f"/admin/links/{link.id}/enable")
    assert "This link was already on." in flashes(text(admin_client.get(response.location)))


def test_switching_a_link_off_and_on_from_the_list_swaps_its_row(app, admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"))

    response = admin_client.post(f"/admin/links/{link.id}/revoke", headers=htmx_headers(f"link-{link.id}"))

    html = text(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith(f'<tr id="link-{link.id}">')
    assert table_rows(html)[link.id]["State"] == "Switched off"
    assert f'hx-post="/admin/links/{link.id}/enable"' in html and "Switch on again" in html
    assert "Link switched off: it no longer lets anyone join." in flashes(html)  # out of band
    assert reload(link).revoked_at is not None
    assert app.test_client().get(f"/join/{link_token(link)}").status_code == 410

    response = admin_client.post(f"/admin/links/{link.id}/enable", headers=htmx_headers(f"link-{link.id}"))

    html = text(response)
    assert response.status_code == 200 and "<html" not in html
    assert table_rows(html)[link.id]["State"] == "Active"
    assert f'hx-post="/admin/links/{link.id}/revoke"' in html and "Switch off" in html
    assert "Link switched on again." in flashes(html)
    assert reload(link).revoked_at is None
    assert app.test_client().get(f"/join/{link_token(link)}").status_code == 200


def test_an_unknown_link_is_not_found(admin_client):
    for path in ("/admin/links/999", "/admin/links/999/qr.png", "/admin/links/999/qr.svg"):
        assert admin_client.get(path).status_code == 404
    assert admin_client.post("/admin/links/999/revoke").status_code == 404


# --- changing the terms -------------------------------------------------------------------


def terms_data(**fields):
    """The terms form as a browser sends it."""
    return {"max_uses": "", "expires_on": "", "allowed_domain": "", **fields}


def full_link(admin, make_group, make_user, **fields):
    """A group link whose only place is taken."""
    link = make_link(admin, group=make_group("Sales North"), max_uses=1, **fields)
    join_link(link, make_user("first@example.com"), now=utcnow())
    db.session.commit()
    return link


def test_the_link_page_offers_to_edit_its_terms(admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"))

    html = text(admin_client.get(f"/admin/links/{link.id}"))

    assert re.search(rf'<a href="/admin/links/{link.id}/edit" hx-get="/admin/links/{link.id}/edit"[^>]*>'
                     r"Edit the terms</a>", html)
    assert '<div id="link-terms" hx-target="this" hx-swap="outerHTML">' in html


def test_the_edit_page_shows_the_links_terms_and_says_its_address_stays(app, admin_client, admin, make_group,
                                                                          make_user):
    last_day = utcnow().date() + timedelta(days=20)
    link = make_link(admin, group=make_group("Sales North"), max_uses=10, expires_on=last_day,
                     allowed_domain="acme.example")
    for email in ("one@acme.example", "two@acme.example"):
        join_link(link, make_user(email), now=utcnow())
    db.session.commit()

    response = admin_client.get(f"/admin/links/{link.id}/edit")

    html = text(response)
    assert response.status_code == 200 and "<html" in html
    assert heading(response) == "Sales North"
    assert input_value(html, "max_uses") == "10"
    assert input_value(html, "expires_on") == last_day.isoformat()
    assert input_value(html, "allowed_domain") == "@acme.example"
    page = visible(html)
    assert url_of(app, link) in page
    assert "2 people have joined through it so far: no fewer than 2." in page
    assert "The address of the link and its QR code stay the same" in page
    assert re.search(rf'<form method="post" action="/admin/links/{link.id}/edit"', html)
    assert 'name="csrf_token"' in html


def test_a_full_link_given_more_room_works_again_from_the_same_address(app, admin_client, admin, make_group,
                                                                        make_user):
    link = full_link(admin, make_group, make_user)
    public = app.test_client()
    landing = f"/join/{link_token(link)}"
    assert public.get(landing).status_code == 410
    url = url_of(app, link)

    response = admin_client.post(f"/admin/links/{link.id}/edit", data=terms_data(max_uses="5"))

    assert response.status_code == 303
    assert response.location == f"/admin/links/{link.id}"
    assert reload(link).max_uses == 5
    html = text(admin_client.get(response.location))
    assert ("Terms saved: maximum uses 1 → 5. People can join through it again, at the same address and QR code."
            in flashes(html))
    page = visible(html)
    assert "Uses 1 of 5 (4 left)" in page
    assert '<span class="badge badge-link-live">Active</span>' in html
    assert re.search(rf'<input id="link-url" type="text" readonly value="{re.escape(url)}"', html)
    assert public.get(landing).status_code == 200
    qr = admin_client.get(f"/admin/links/{link.id}/qr.png?size=300")
    assert decoded(qr) == url


def test_an_expired_link_given_a_later_last_day_works_again_from_the_same_address(app, admin_client, admin,
                                                                                   make_group):
    link = make_link(admin, group=make_group("Sales North"))
    link.expires_at = utcnow() - timedelta(hours=1)  # its last day is over
    db.session.commit()
    landing = f"/join/{link_token(link)}"
    assert "This link has expired." in visible(text(app.test_client().get(landing)))
    last_day = utcnow().date() + timedelta(days=7)

    response = admin_client.post(f"/admin/links/{link.id}/edit", data=terms_data(expires_on=last_day.isoformat()))

    assert response.status_code == 303
    html = text(admin_client.get(response.location))
    assert any(message.startswith("Terms saved: works until ") and message.endswith(
        f" → {last_day}. People can join through it again, at the same address and QR code.")
        for message in flashes(html))
    assert f"Works until {last_day.isoformat()}" in visible(html)
    assert app.test_client().get(landing).status_code == 200


def test_every_term_changed_at_once_is_listed(admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"), max_uses=10)
    last_day = utcnow().date() + timedelta(days=30)

    response = admin_client.post(f"/admin/links/{link.id}/edit", data=terms_data(
        max_uses="", expires_on=last_day.isoformat(), allowed_domain="@Acme.example"))

    html = text(admin_client.get(response.location))
    assert (f"Terms saved: maximum uses 10 → no limit; works until no expiry → {last_day}; "
            "email addresses any → only @acme.example.") in flashes(html)
    page = visible(html)
    assert "Uses 0 of no limit" in page
    assert f"Works until {last_day.isoformat()}" in page
    assert "Email addresses only @acme.example" in page


def test_saving_the_terms_unchanged_says_there_was_nothing_to_change(admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"), max_uses=10, allowed_domain="acme.example")

    response = admin_client.post(f"/admin/links/{link.id}/edit", data=terms_data(
        max_uses="10", allowed_domain="@acme.example"))

    assert response.status_code == 303
    assert "Nothing to change: the terms are as they were." in flashes(text(admin_client.get(response.location)))


def test_more_room_for_a_switched_off_link_says_it_still_lets_nobody_join(app, admin_client, admin, make_group,
                                                                            make_user):
    link = full_link(admin, make_group, make_user)
    admin_client.post(f"/admin/links/{link.id}/revoke")
    admin_client.get(f"/admin/links/{link.id}")  # the flash is read

    response = admin_client.post(f"/admin/links/{link.id}/edit", data=terms_data(max_uses="3"))

    html = text(admin_client.get(response.location))
    assert flashes(html) == ["Terms saved: maximum uses 1 → 3. It still lets nobody join: it is switched off."]
    assert reload(link).max_uses == 3
    assert app.test_client().get(f"/join/{link_token(link)}").status_code == 410


def test_a_maximum_below_the_uses_made_comes_back_with_the_numbers(admin_client, admin, make_group, make_user):
    link = make_link(admin, group=make_group("Sales North"), max_uses=10)
    for email in ("one@example.com", "two@example.com", "three@example.com"):
        join_link(link, make_user(email), now=utcnow())
    db.session.commit()

    response = admin_client.post(f"/admin/links/{link.id}/edit", data=terms_data(max_uses="2"))

    html = text(response)
    assert response.status_code == 422
    assert "<html" in html
    assert field_error(html, "max_uses") == ("3 people have joined through this link already: the maximum uses "
                                             "cannot be 2, only 3 or more (or no limit).")
    assert input_value(html, "max_uses") == "2"  # what was typed, to correct
    assert reload(link).max_uses == 10


@pytest.mark.parametrize("fields, field, message", [
    ({"expires_on": yesterday()}, "expires_on", "Choose an expiry date from today on."),
    ({"expires_on": "9999-12-31"}, "expires_on", "Choose a date up to 2099-12-31."),
    ({"expires_on": "31/12/2030"}, "expires_on", "Not a valid date value."),
    ({"allowed_domain": "not a domain"}, "allowed_domain",
     "“not a domain” is not an email domain such as @acme.example."),
    ({"max_uses": "0"}, "max_uses", "Enter a number from 1 to 100,000."),
    ({"max_uses": "lots"}, "max_uses", "Not a valid integer value."),
], ids=["past day", "year 9999", "junk date", "junk domain", "max uses 0", "max uses junk"])
def test_bad_terms_come_back_with_the_message_next_to_the_field(admin_client, admin, make_group, fields, field,
                                                                 message):
    link = make_link(admin, group=make_group("Sales North"), max_uses=10)

    response = admin_client.post(f"/admin/links/{link.id}/edit", data=terms_data(**fields))

    assert response.status_code == 422
    assert field_error(text(response), field) == message
    assert (reload(link).max_uses, reload(link).expires_at, reload(link).allowed_domain) == (10, None, None)


def test_the_terms_are_edited_in_place_with_htmx(app, admin_client, admin, make_group, make_user):
    link = full_link(admin, make_group, make_user)

    form = admin_client.get(f"/admin/links/{link.id}/edit", headers=htmx_headers("link-terms"))

    html = text(form)
    assert form.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="link-terms" hx-target="this" hx-swap="outerHTML">')
    assert f'hx-post="/admin/links/{link.id}/edit"' in html
    assert input_value(html, "max_uses") == "1"

    response = admin_client.post(f"/admin/links/{link.id}/edit", data=terms_data(max_uses="4"),
                                 headers=htmx_headers("link-terms"))

    html = text(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="link-terms"')
    assert "Uses 1 of 4 (3 left)" in visible(html)
    assert re.search(r'<span id="link-state" hx-swap-oob="true">\s*<span class="badge badge-link-live">Active</span>',
                     html)
    assert flashes(html) == ["Terms saved: maximum uses 1 → 4. People can join through it again, "
                             "at the same address and QR code."]
    assert app.test_client().get(f"/join/{link_token(link)}").status_code == 200


def test_a_refused_htmx_edit_returns_the_form_with_the_message(admin_client, admin, make_group, make_user):
    link = make_link(admin, group=make_group("Sales North"), max_uses=10)
    for email in ("one@example.com", "two@example.com"):
        join_link(link, make_user(email), now=utcnow())
    db.session.commit()

    response = admin_client.post(f"/admin/links/{link.id}/edit", data=terms_data(max_uses="1"),
                                 headers=htmx_headers("link-terms"))

    html = text(response)
    assert response.status_code == 422
    assert "<html" not in html and html.lstrip().startswith('<div id="link-terms"')
    assert field_error(html, "max_uses").startswith("2 people have joined through this link already")
    assert reload(link).max_uses == 10


def test_cancelling_an_htmx_edit_brings_back_the_terms(admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"), max_uses=10)
    form = text(admin_client.get(f"/admin/links/{link.id}/edit", headers=htmx_headers("link-terms")))
    assert re.search(rf'<a href="/admin/links/{link.id}" hx-get="/admin/links/{link.id}"[^>]*>Cancel</a>', form)

    response = admin_client.get(f"/admin/links/{link.id}", headers=htmx_headers("link-terms"))

    html = text(response)
    assert response.status_code == 200
    assert "<html" not in html and html.lstrip().startswith('<div id="link-terms"')
    assert "Uses 0 of 10 (10 left)" in visible(html)


def test_a_manager_edits_the_terms_of_a_learner_link_to_what_they_train(manager_client, admin, trained):
    link = make_link(admin, session=trained["session"], max_uses=10)

    assert manager_client.get(f"/admin/links/{link.id}/edit").status_code == 200
    response = manager_client.post(f"/admin/links/{link.id}/edit", data=terms_data(max_uses="20"))

    assert response.status_code == 303
    assert reload(link).max_uses == 20


def test_the_terms_of_a_link_one_may_not_manage_cannot_be_edited(app, manager_client, admin, trained, make_user):
    foreign = make_link(admin, session=trained["other_session"], max_uses=10)
    managers = make_link(admin, session=trained["session"], role=Role.manager, max_uses=10)
    learner_client = login(app.test_client(), make_user("learner@example.com"))

    for client, link in ((manager_client, foreign), (manager_client, managers), (learner_client, foreign)):
        assert client.get(f"/admin/links/{link.id}/edit").status_code == 403
        for headers in (None, htmx_headers("link-terms")):
            response = client.post(f"/admin/links/{link.id}/edit", data=terms_data(max_uses="50"), headers=headers)
            assert response.status_code == 403
            assert "Your account does not have access to this page." in text(response)
        assert reload(link).max_uses == 10
    anonymous = app.test_client().post(f"/admin/links/{foreign.id}/edit", data=terms_data(max_uses="50"))
    assert anonymous.status_code == 302 and anonymous.location.startswith("/login")
    assert reload(foreign).max_uses == 10


def test_editing_an_unknown_link_is_not_found(admin_client):
    assert admin_client.get("/admin/links/999/edit").status_code == 404
    assert admin_client.post("/admin/links/999/edit", data=terms_data(max_uses="5")).status_code == 404


# --- the QR code --------------------------------------------------------------------------


def test_the_qr_code_png_is_a_1200_pixel_download_of_the_links_address(app, admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"))

    response = admin_client.get(f"/admin/links/{link.id}/qr.png")

    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"] == f'attachment; filename="invite-link-{link.id}-qr.png"'
    assert png(response).format == "PNG"
    assert png(response).size == (1200, 1200)
    assert decoded(response) == url_of(app, link)


def test_the_qr_code_png_comes_in_the_size_asked_for(app, admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"))

    response = admin_client.get(f"/admin/links/{link.id}/qr.png?size=300")

    assert response.status_code == 200
    assert png(response).size == (300, 300)
    assert decoded(response) == url_of(app, link)


@pytest.mark.parametrize("size", ["5", "abc", "199", "4001", "-300", ""])
def test_a_qr_code_size_out_of_range_is_a_bad_request(admin_client, admin, make_group, size):
    link = make_link(admin, group=make_group("Sales North"))

    response = admin_client.get(f"/admin/links/{link.id}/qr.png?size={size}")

    assert response.status_code == 400
    assert response.mimetype == "text/html"


def test_the_qr_code_svg_is_a_download(admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"))

    response = admin_client.get(f"/admin/links/{link.id}/qr.svg")

    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["Content-Disposition"] == f'attachment; filename="invite-link-{link.id}-qr.svg"'
    assert b"<svg" in response.data and b"<path" in response.data


# --- forged requests ----------------------------------------------------------------------


def test_creating_a_link_without_the_security_token_is_refused(admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.post("/admin/links/new", data=link_data("group", group=group), csrf=False)

    assert response.status_code == 400
    assert "security token is missing" in visible(text(response))
    assert link_count() == 0


@pytest.mark.parametrize("action", ["revoke", "enable"])
def test_switching_a_link_without_the_security_token_is_refused(admin_client, admin, make_group, action):
    link = make_link(admin, group=make_group("Sales North"))
    if action == "enable":
        link.revoked_at = utcnow()
        db.session.commit()
    before = reload(link).revoked_at

    response = admin_client.post(f"/admin/links/{link.id}/{action}", csrf=False)

    assert response.status_code == 400
    assert reload(link).revoked_at == before



@pytest.mark.parametrize("headers", [None, htmx_headers("link-terms")], ids=["form", "htmx"])
def test_editing_the_terms_without_the_security_token_is_refused(admin_client, admin, make_group, headers):
    link = make_link(admin, group=make_group("Sales North"), max_uses=10)

    response = admin_client.post(f"/admin/links/{link.id}/edit", data=terms_data(max_uses="50"), headers=headers,
                                 csrf=False)

    assert response.status_code == 400
    assert "security token is missing" in visible(text(response))
    assert reload(link).max_uses == 10


def test_editing_the_terms_with_a_forged_security_token_is_refused(admin_client, admin, make_group):
    link = make_link(admin, group=make_group("Sales North"), max_uses=10)

    response = admin_client.post(f"/admin/links/{link.id}/edit", csrf=False,
                                 data=terms_data(max_uses="50", csrf_token="forged-token"))

    assert response.status_code == 400
    assert reload(link).max_uses == 10
