"""Signing in and out, and the admin's users pages: table, search, filters, edit, status, export."""
import csv
import io
import re
from datetime import date
from html import unescape

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from lms.accounts.models import Role, User, UserStatus
from lms.enrollment.groups.models import Group, GroupMembership
from lms.extensions import db
from tests.conftest import PASSWORD, htmx_headers, login

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def text(response):
    return response.get_data(as_text=True)


def visible(html):
    """The text a person reads: tags dropped (with their attributes), entities decoded."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def emails_in_table(response):
    """The emails of the users table's rows, in order."""
    bodies = re.findall(r"<tbody\b.*?</tbody>", text(response), re.S)
    return [email for body in bodies for email in EMAIL.findall(visible(body))]


def field_error(response, field):
    """The message shown next to a form field (the element its aria-describedby points at)."""
    match = re.search(rf'<[^>]*\bid="{field}-error"[^>]*>(.*?)</', text(response), re.S)
    return visible(match.group(1)) if match else None


def buttons(html):
    return [visible(label) for label in re.findall(r"<button\b[^>]*>(.*?)</button>", html, re.S)]


def input_tags(html, name):
    return re.findall(rf'<input\b[^>]*\bname="{name}"[^>]*>', html)


def input_value(html, name):
    (tag,) = input_tags(html, name)
    return unescape(re.search(r'\bvalue="([^"]*)"', tag).group(1))


def reload(user):
    db.session.expire_all()
    return db.session.get(User, user.id)


def group_ids_of(user):
    db.session.expire_all()
    return set(db.session.scalars(
        sa.select(GroupMembership.group_id).where(GroupMembership.user_id == user.id)
    ))


# Signing in and out ---------------------------------------------------------------------------


def test_login_page_shows_the_form(client):
    response = client.get("/login")

    assert response.status_code == 200
    html = text(response)
    assert 'name="email"' in html
    assert 'name="password"' in html
    assert "Sign in" in html


def test_sign_in_lands_on_home_with_a_welcome(client, admin):
    response = client.post("/login", data={"email": "ADMIN@example.com", "password": PASSWORD})

    assert response.status_code == 303
    assert response.location == "/"
    home = visible(text(client.get("/")))
    assert "Welcome, Ada Admin." in home
    assert "Hello, Ada" in home
    assert reload(admin).last_login_at is not None


def test_wrong_password_shows_the_form_again(client, admin):
    response = client.post("/login", data={"email": admin.email, "password": "wrong-password"})

    assert response.status_code == 422
    assert "Wrong email or password." in visible(text(response))
    assert client.get("/").status_code == 302
    assert reload(admin).last_login_at is None


def test_empty_login_form_says_what_is_missing(client):
    response = client.post("/login", data={"email": "", "password": ""})

    assert response.status_code == 422
    assert field_error(response, "email") == "This field is required."
    assert field_error(response, "password") == "This field is required."


def test_signed_in_person_opening_login_goes_home(learner_client):
    response = learner_client.get("/login")

    assert response.status_code == 302
    assert response.location == "/"


def test_sign_out(admin_client):
    response = admin_client.post("/logout")

    assert response.status_code == 303
    assert response.location == "/login"
    assert "You are signed out." in visible(text(admin_client.get("/login")))
    assert admin_client.get("/").status_code == 302
    assert admin_client.get("/admin/users").status_code == 302


# The users table ------------------------------------------------------------------------------


def test_users_page_is_a_full_page(admin_client, make_user):
    make_user("ann@example.com")

    response = admin_client.get("/admin/users")

    assert response.status_code == 200
    assert "<html" in text(response)
    assert 'id="user-filters"' in text(response)
    assert emails_in_table(response) == ["admin@example.com", "ann@example.com"]


def test_users_table_fragment_for_htmx(admin_client, make_user):
    make_user("ann@example.com")

    response = admin_client.get("/admin/users", headers=htmx_headers("user-table"))

    assert response.status_code == 200
    assert "<html" not in text(response)
    assert 'id="user-filters"' not in text(response)
    assert "<table" in text(response)
    assert emails_in_table(response) == ["admin@example.com", "ann@example.com"]


@pytest.mark.parametrize("headers", [
    {"HX-Request": "true", "HX-Boosted": "true", "HX-Current-URL": "http://localhost/"},
    {"HX-Request": "true", "HX-Boosted": "true", "HX-Target": "main"},
], ids=["no target", "another target"])
def test_boosted_navigation_gets_the_full_users_page(admin_client, headers):
    response = admin_client.get("/admin/users", headers=headers)

    assert response.status_code == 200
    assert "<html" in text(response)
    assert 'id="user-filters"' in text(response)
    assert emails_in_table(response) == ["admin@example.com"]


@pytest.fixture
def people(make_user):
    make_user("marie@example.com", first_name="Marie", last_name="Curie")
    make_user("pierre@example.com", first_name="Pierre", last_name="Curie")
    make_user("countess@analytical.example", first_name="Ada", last_name="Lovelace")
    make_user("emile@example.com", first_name="Émile", last_name="Zola")


@pytest.mark.parametrize("q, expected", [
    ("curi", ["marie@example.com", "pierre@example.com"]),
    ("CURIE", ["marie@example.com", "pierre@example.com"]),
    ("pier", ["pierre@example.com"]),
    ("ierr", []),  # words are looked for at the start of names and emails (an index serves that)
    ("marie curie", ["marie@example.com"]),
    ("@analytical", ["countess@analytical.example"]),  # with "@", anywhere in the email: a domain
    ("COUNTESS@Analytical", ["countess@analytical.example"]),
    ("  lovelace  ", ["countess@analytical.example"]),
    ("émile", ["emile@example.com"]),
    ("Émile", ["emile@example.com"]),
    ("ZOLA", ["emile@example.com"]),
    ("nobody", []),
])
def test_search_by_the_start_of_names_or_email_ignoring_case(admin_client, people, q, expected):
    response = admin_client.get("/admin/users", query_string={"q": q},
                                headers=htmx_headers("user-table"))

    assert response.status_code == 200
    assert emails_in_table(response) == expected
    if not expected:
        assert "No user matches these filters." in visible(text(response))


@pytest.fixture
def population(make_user, make_group):
    ann = make_user("ann@example.com", last_name="A")
    bob = make_user("bob@example.com", last_name="B", role=Role.manager)
    cat = make_user("cat@example.com", last_name="C", status=UserStatus.invited, password=None)
    dan = make_user("dan@example.com", last_name="D", status=UserStatus.deactivated)
    make_group("Cohort A", members=[ann, dan])
    make_group("Cohort B", members=[bob])
    return ann, bob, cat, dan


@pytest.mark.parametrize("args, expected", [
    ({"status": "invited"}, ["cat@example.com"]),
    ({"status": "deactivated"}, ["dan@example.com"]),
    ({"status": "active"}, ["ann@example.com", "admin@example.com", "bob@example.com"]),
    ({"role": "manager"}, ["bob@example.com"]),
    ({"role": "admin"}, ["admin@example.com"]),
    ({"role": "learner"}, ["ann@example.com", "cat@example.com", "dan@example.com"]),
    ({"group": "Cohort A"}, ["ann@example.com", "dan@example.com"]),
    ({"group": "Cohort A", "status": "active"}, ["ann@example.com"]),
    ({"group": "Cohort B", "role": "learner"}, []),
])
def test_filter_by_status_role_and_group(admin_client, population, args, expected):
    if "group" in args:
        args = {**args, "group": db.session.scalar(sa.select(Group.id).filter_by(name=args["group"]))}

    response = admin_client.get("/admin/users", query_string=args)

    assert response.status_code == 200
    assert emails_in_table(response) == expected


def test_hand_edited_filter_shows_everyone(admin_client, population):
    response = admin_client.get("/admin/users?status=sleeping&role=king")

    assert response.status_code == 200
    assert len(emails_in_table(response)) == 5


def test_users_are_shown_fifty_a_page(admin_client, make_user):
    emails = {make_user(first_name="Pager", password=None).email for _ in range(55)}
    emails.add("admin@example.com")

    first = admin_client.get("/admin/users")
    second = admin_client.get("/admin/users?page=2", headers=htmx_headers("user-table"))

    assert len(emails_in_table(first)) == 50
    assert "Page 1 of 2" in visible(text(first))
    assert len(emails_in_table(second)) == 6
    assert "Page 2 of 2" in visible(text(second))
    assert set(emails_in_table(first)) | set(emails_in_table(second)) == emails
    assert "<html" not in text(second)


def test_pages_keep_the_search(admin_client, make_user):
    for _ in range(52):
        make_user(first_name="Pager", password=None)
    make_user(first_name="Other", password=None)

    first = admin_client.get("/admin/users?q=pager")
    next_link = re.search(r'<a\b[^>]*\bhref="([^"]+)"[^>]*>\s*Next', text(first)).group(1)
    second = admin_client.get(unescape(next_link))

    assert "q=pager" in unescape(next_link)
    assert len(emails_in_table(first)) == 50
    assert len(emails_in_table(second)) == 2
    assert "Page 2 of 2" in visible(text(second))


def test_users_page_shows_a_planned_deactivation(admin_client, make_user):
    make_user("leaving@example.com", deactivate_on=date(2099, 5, 1))

    response = admin_client.get("/admin/users")

    assert "deactivates on 2099-05-01" in visible(text(response))


# A user's page: editing -----------------------------------------------------------------------


def edit_data(user, **changes):
    data = {
        "first_name": user.first_name, "last_name": user.last_name, "language": user.language,
        "role": user.role.value, "labels": " | ".join(user.labels),
        "additional_info": user.additional_info,
        "deactivate_on": user.deactivate_on.isoformat() if user.deactivate_on else "",
        "external_id": user.external_id or "",
        "groups": [str(group_id) for group_id in group_ids_of(user)],
    }
    data.update(changes)
    return data


def test_user_page_shows_the_profile(admin_client, make_user, make_group):
    user = make_user("ann@example.com", first_name="Ann", last_name="Archer", labels=["vip", "north"],
                     additional_info="Night shift")
    make_group("Cohort A", members=[user])

    response = admin_client.get(f"/admin/users/{user.id}")

    html = text(response)
    assert response.status_code == 200
    assert re.search(r"<h1\b[^>]*>\s*Ann Archer\s*</h1>", html)
    assert input_value(html, "first_name") == "Ann"
    assert input_value(html, "labels") == "north | vip"
    assert "Night shift" in visible(html)
    (group_box,) = input_tags(html, "groups")
    assert "checked" in group_box


def test_edit_saves_every_field(admin_client, make_user, make_group):
    user = make_user("ann@example.com", first_name="Ann", last_name="Archer")
    old, team_a, team_b = make_group("Old team", [user]), make_group("Team A"), make_group("Team B")

    response = admin_client.post(f"/admin/users/{user.id}", data=edit_data(
        user, first_name="  Anna ", last_name="Bell", language="fr", role="manager",
        labels="Sales | north, EMEA,, sales", additional_info="Prefers mornings",
        deactivate_on="2099-12-31", groups=[str(team_a.id), str(team_b.id)],
    ))

    assert response.status_code == 303
    assert response.location == f"/admin/users/{user.id}"
    user = reload(user)
    assert (user.first_name, user.last_name, user.language, user.role) == (
        "Anna", "Bell", "fr", Role.manager)
    assert sorted(user.labels) == ["EMEA", "Sales", "north"]
    assert user.additional_info == "Prefers mornings"
    assert user.deactivate_on == date(2099, 12, 31)
    assert group_ids_of(user) == {team_a.id, team_b.id}
    assert old.id not in group_ids_of(user)
    page = text(admin_client.get(response.location))
    assert "Changes saved." in visible(page)
    assert sorted(input_value(page, "labels").split(" | ")) == ["EMEA", "Sales", "north"]
    assert input_value(page, "deactivate_on") == "2099-12-31"


def test_edit_adds_a_label_to_existing_ones(admin_client, make_user):
    user = make_user("ann@example.com", labels=["Sales"])

    response = admin_client.post(f"/admin/users/{user.id}",
                                 data=edit_data(user, labels="Sales | EMEA"))

    assert response.status_code == 303
    assert sorted(reload(user).labels) == ["EMEA", "Sales"]


def test_edit_clears_labels_groups_and_deactivation_date(admin_client, make_user, make_group):
    user = make_user("ann@example.com", labels=["Sales"], deactivate_on=date(2099, 1, 1))
    make_group("Team A", [user])

    response = admin_client.post(f"/admin/users/{user.id}", data=edit_data(
        user, labels="", deactivate_on="", groups=[]))

    assert response.status_code == 303
    user = reload(user)
    assert user.labels == []
    assert user.deactivate_on is None
    assert group_ids_of(user) == set()


def test_edit_through_htmx_returns_the_form_with_a_message(admin_client, make_user):
    user = make_user("ann@example.com", first_name="Ann")

    response = admin_client.post(f"/admin/users/{user.id}", data=edit_data(user, first_name="Anna"),
                                 headers=htmx_headers("user-form"))

    assert response.status_code == 200
    html = text(response)
    assert "<html" not in html
    assert input_value(html, "first_name") == "Anna"
    assert "Changes saved." in visible(html)
    assert reload(user).first_name == "Anna"


def test_saving_an_unchanged_form_says_so(admin_client, make_user, make_group):
    user = make_user("ann@example.com", labels=["north", "Sales"], additional_info="Night shift")
    make_group("Cohort A", members=[user])
    labels_shown = input_value(text(admin_client.get(f"/admin/users/{user.id}")), "labels")

    response = admin_client.post(f"/admin/users/{user.id}", data=edit_data(user, labels=labels_shown),
                                 headers=htmx_headers("user-form"))

    assert response.status_code == 200
    assert "Nothing to change." in visible(text(response))
    assert "Changes saved." not in visible(text(response))


INVALID_EDITS = {
    "date in the past": (
        {"deactivate_on": "2000-01-01"}, "deactivate_on",
        "Choose a date after today; to deactivate an account now, use Deactivate on its page.",
    ),
    "not a date": ({"deactivate_on": "next tuesday"}, "deactivate_on", "Not a valid date value."),
    "forged language": ({"language": "xx"}, "language", "Not a valid choice."),
    "forged role": ({"role": "superuser"}, "role", "Not a valid choice."),
    "label too long": (
        {"labels": "ok, " + "x" * 101}, "labels",
        "Label 'xxxxxxxxxxxxxxxxxxxx'... is longer than 100 characters.",
    ),
}


@pytest.mark.parametrize("changes, field, message", INVALID_EDITS.values(), ids=INVALID_EDITS.keys())
@pytest.mark.parametrize("through_htmx", [False, True], ids=["form", "htmx"])
def test_invalid_edit_is_refused_next_to_the_field(admin_client, make_user, changes, field, message,
                                                  through_htmx):
    user = make_user("ann@example.com", first_name="Ann", language="en")
    headers = htmx_headers("user-form") if through_htmx else None

    response = admin_client.post(f"/admin/users/{user.id}",
                                 data=edit_data(user, first_name="Changed", **changes),
                                 headers=headers)

    assert response.status_code == 422
    assert field_error(response, field) == message
    assert f'aria-describedby="{field}-error' in text(response)
    assert ("<html" in text(response)) is not through_htmx
    assert input_value(text(response), "first_name") == "Changed"
    user = reload(user)
    assert (user.first_name, user.language, user.role, user.deactivate_on) == (
        "Ann", "en", Role.learner, None)


@pytest.mark.parametrize("through_htmx", [False, True], ids=["form", "htmx"])
def test_admin_cannot_change_their_own_role(admin_client, admin, through_htmx):
    headers = htmx_headers("user-form") if through_htmx else None

    response = admin_client.post(f"/admin/users/{admin.id}", data=edit_data(admin, role="learner"),
                                 headers=headers)

    assert response.status_code == 422
    assert field_error(response, "role") == "You cannot change your own role."
    assert ("<html" in text(response)) is not through_htmx
    assert reload(admin).role == Role.admin
    assert admin_client.get("/admin/users").status_code == 200


# A user's page: deactivate and reactivate ----------------------------------------------------


def test_deactivate_button(admin_client, make_user):
    user = make_user("ann@example.com", first_name="Ann", last_name="Archer")
    assert "Deactivate now" in buttons(text(admin_client.get(f"/admin/users/{user.id}")))

    response = admin_client.post(f"/admin/users/{user.id}/deactivate")

    assert response.status_code == 303
    assert response.location == f"/admin/users/{user.id}"
    assert reload(user).status == UserStatus.deactivated
    page = text(admin_client.get(response.location))
    assert "Ann Archer is deactivated." in visible(page)
    assert "Status: deactivated" in visible(page)
    assert "Reactivate" in buttons(page)
    assert "Deactivate now" not in buttons(page)


def test_deactivate_button_through_htmx(admin_client, make_user):
    user = make_user("ann@example.com", first_name="Ann", last_name="Archer")

    response = admin_client.post(f"/admin/users/{user.id}/deactivate",
                                 headers=htmx_headers("user-status"))

    assert response.status_code == 200
    html = text(response)
    assert "<html" not in html
    assert 'id="user-form"' not in html
    assert "Status: deactivated" in visible(html)
    assert buttons(html) == ["Reactivate"]
    assert "Ann Archer is deactivated." in visible(html)
    assert reload(user).status == UserStatus.deactivated


def test_reactivate_button(admin_client, make_user):
    user = make_user("ann@example.com", first_name="Ann", last_name="Archer",
                     status=UserStatus.deactivated)

    response = admin_client.post(f"/admin/users/{user.id}/reactivate")

    assert response.status_code == 303
    assert response.location == f"/admin/users/{user.id}"
    assert reload(user).status == UserStatus.active
    page = text(admin_client.get(response.location))
    assert "Ann Archer is reactivated." in visible(page)
    assert "Status: active" in visible(page)
    assert "Deactivate now" in buttons(page)


def test_reactivate_button_through_htmx(admin_client, make_user):
    user = make_user("ann@example.com", first_name="Ann", last_name="Archer",
                     status=UserStatus.deactivated)

    response = admin_client.post(f"/admin/users/{user.id}/reactivate",
                                 headers=htmx_headers("user-status"))

    assert response.status_code == 200
    html = text(response)
    assert "<html" not in html
    assert "Status: active" in visible(html)
    assert buttons(html) == ["Email a link to choose a new password", "Deactivate now"]
    assert "Ann Archer is reactivated." in visible(html)
    assert reload(user).status == UserStatus.active


def test_reactivated_user_can_sign_in_again(app, admin_client, make_user):
    user = make_user("ann@example.com", status=UserStatus.deactivated)

    admin_client.post(f"/admin/users/{user.id}/reactivate")

    login(app.test_client(), user)


def test_admin_cannot_deactivate_themselves(admin_client, admin):
    assert "Deactivate now" not in buttons(text(admin_client.get(f"/admin/users/{admin.id}")))

    response = admin_client.post(f"/admin/users/{admin.id}/deactivate")

    assert response.status_code == 303
    page = text(admin_client.get(response.location))
    assert "You cannot deactivate your own account." in visible(page)
    assert reload(admin).status == UserStatus.active


# Export ---------------------------------------------------------------------------------------


def export_links(page):
    links = re.findall(r'href="([^"]*/admin/users/export[^"]*)"', text(page))
    return {re.search(r"format=(\w+)", link).group(1): unescape(link) for link in links}


@pytest.fixture
def exportable(make_user, make_group):
    ann = make_user("ann@example.com", first_name="Ann", last_name="Archer", labels=["vip", "north"],
                    deactivate_on=date(2099, 5, 1))
    eve = make_user("eve@example.com", first_name="=1+2", last_name="Evil",
                    additional_info='=HYPERLINK("http://evil.example","click")')
    make_group("Cohort A", members=[ann, eve])
    make_group("Cohort B", members=[ann])
    return ann, eve


def test_export_csv_from_the_users_page(admin_client, exportable):
    links = export_links(admin_client.get("/admin/users"))

    response = admin_client.get(links["csv"])

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="users.csv"'
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(text(response)))}
    assert set(rows) == {"admin@example.com", "ann@example.com", "eve@example.com"}
    assert rows["ann@example.com"]["labels"] == "north | vip"
    assert rows["ann@example.com"]["groups"] == "Cohort A | Cohort B"
    assert rows["ann@example.com"]["deactivate_on"] == "2099-05-01"
    assert rows["eve@example.com"]["first_name"] == "'=1+2"
    assert rows["eve@example.com"]["additional_info"] == '\'=HYPERLINK("http://evil.example","click")'


def test_export_xlsx_from_the_users_page(admin_client, exportable):
    links = export_links(admin_client.get("/admin/users"))

    response = admin_client.get(links["xlsx"])

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="users.xlsx"'
    sheet = load_workbook(io.BytesIO(response.data))["Users"]
    header, *rows = sheet.iter_rows()
    columns = [cell.value for cell in header]
    rows = {row[columns.index("email")].value: dict(zip(columns, row)) for row in rows}
    assert set(rows) == {"admin@example.com", "ann@example.com", "eve@example.com"}
    assert rows["ann@example.com"]["labels"].value == "north | vip"
    assert rows["ann@example.com"]["groups"].value == "Cohort A | Cohort B"
    formula = rows["eve@example.com"]["first_name"]
    assert formula.value == "'=1+2"
    assert formula.data_type == "s"
    info = rows["eve@example.com"]["additional_info"]
    assert info.value == '\'=HYPERLINK("http://evil.example","click")'
    assert info.data_type == "s"


def test_export_from_a_filtered_page_keeps_the_group(admin_client, exportable, make_user):
    make_user("outsider@example.com")
    cohort_b = db.session.scalar(sa.select(Group.id).filter_by(name="Cohort B"))
    links = export_links(admin_client.get(f"/admin/users?group={cohort_b}"))

    response = admin_client.get(links["csv"])

    emails = [row["email"] for row in csv.DictReader(io.StringIO(text(response)))]
    assert emails == ["ann@example.com"]


def test_export_in_an_unknown_format_is_refused(admin_client):
    response = admin_client.get("/admin/users/export?format=pdf")

    assert response.status_code == 400
