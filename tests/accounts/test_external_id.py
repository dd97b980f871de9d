"""The HR system's external id of a user (DESIGN §2, §4 column 12, §5, §7): shown and edited on
the admin's user page, found by the users search, exported (CSV, XLSX, JSON), and kept when an
export is imported back with `lms import --mode update`."""
import csv
import io
import json
from datetime import date

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from lms.accounts.models import Role, User, UserStatus
from lms.accounts.services import update_user, user_search_query
from lms.audit.models import AuditEvent
from lms.enrollment.rosters.export import export_users
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail
from tests.accounts.test_views import edit_data, emails_in_table, field_error, input_value, reload, text, visible
from tests.conftest import count, htmx_headers

TAKEN = "E-1234 is already the external id of kate@example.com."


def heading(html):
    """The user page's heading (its hgroup), as a person reads it."""
    start = html.index('id="user-heading"')
    return visible(html[start:html.index("</hgroup>", start)])


def events(action="user.updated"):
    db.session.expire_all()
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).all()


@pytest.fixture
def kate(make_user):
    return make_user("kate@example.com", first_name="Kate", last_name="Keller", external_id="E-1234")


# The user page ------------------------------------------------------------------------------


def test_the_user_page_shows_the_external_id_when_set(admin_client, kate, make_user):
    html = text(admin_client.get(f"/admin/users/{kate.id}"))

    assert "External id (HR system): E-1234" in heading(html)
    assert input_value(html, "external_id") == "E-1234"

    someone = make_user("ann@example.com")
    html = text(admin_client.get(f"/admin/users/{someone.id}"))
    assert "External id" not in heading(html)
    assert input_value(html, "external_id") == ""
    assert 'maxlength="255"' in html


@pytest.mark.parametrize("through_htmx", [False, True], ids=["form", "htmx"])
def test_the_edit_form_sets_the_external_id_trimmed_and_audits_it(admin_client, admin, make_user, through_htmx):
    ann = make_user("ann@example.com", first_name="Ann")

    response = admin_client.post(f"/admin/users/{ann.id}", data=edit_data(ann, external_id="  E-77 "),
                                 headers=htmx_headers("user-form") if through_htmx else None)

    assert response.status_code == (200 if through_htmx else 303)
    assert reload(ann).external_id == "E-77"
    (event,) = events()
    assert (event.actor_id, event.target_id, event.details["fields"]) == (admin.id, ann.id, ["external_id"])
    html = text(response) if through_htmx else text(admin_client.get(response.location))
    assert "Changes saved." in visible(html)
    assert input_value(html, "external_id") == "E-77"
    assert "External id (HR system): E-77" in heading(html)  # through htmx: the heading swapped out of band
    if through_htmx:
        assert "<html" not in html and 'hx-swap-oob="true"' in html


@pytest.mark.parametrize("cleared", ["", "   "])
def test_the_edit_form_clears_the_external_id(admin_client, kate, cleared):
    response = admin_client.post(f"/admin/users/{kate.id}", data=edit_data(kate, external_id=cleared))

    assert response.status_code == 303
    assert reload(kate).external_id is None
    assert events()[0].details["fields"] == ["external_id"]
    assert "External id" not in heading(text(admin_client.get(response.location)))


def test_saving_the_same_external_id_changes_nothing(admin_client, kate):
    response = admin_client.post(f"/admin/users/{kate.id}", data=edit_data(kate, external_id=" E-1234"),
                                 headers=htmx_headers("user-form"))

    assert response.status_code == 200
    assert "Nothing to change." in visible(text(response))
    assert reload(kate).external_id == "E-1234"
    assert events() == []


def test_a_form_posted_without_the_field_keeps_the_external_id(admin_client, kate):
    data = edit_data(kate, first_name="Katherine")
    del data["external_id"]  # a page loaded before the field existed

    response = admin_client.post(f"/admin/users/{kate.id}", data=data)

    assert response.status_code == 303
    kate = reload(kate)
    assert (kate.first_name, kate.external_id) == ("Katherine", "E-1234")


@pytest.mark.parametrize("through_htmx", [False, True], ids=["form", "htmx"])
def test_an_external_id_someone_else_holds_is_a_field_error_naming_them(admin_client, kate, make_user,
                                                                        through_htmx):
    ann = make_user("ann@example.com", first_name="Ann")

    response = admin_client.post(f"/admin/users/{ann.id}",
                                 data=edit_data(ann, first_name="Anna", external_id=" E-1234 "),
                                 headers=htmx_headers("user-form") if through_htmx else None)

    assert response.status_code == 422
    assert field_error(response, "external_id") == TAKEN
    assert 'aria-describedby="external_id-error' in text(response)
    assert ("<html" in text(response)) is not through_htmx
    assert input_value(text(response), "first_name") == "Anna"  # what was typed stays in the form
    ann = reload(ann)
    assert (ann.first_name, ann.external_id) == ("Ann", None)  # nothing of the edit is written
    assert reload(kate).external_id == "E-1234"
    assert events() == []


INVALID = {
    "too long": ("x" * 256, "An external id has at most 255 characters; this one has 256."),
    "control character": ("E-1\x002", "An external id cannot hold tabs, line breaks or other control characters."),
    "line break": ("E-1\n2", "An external id cannot hold tabs, line breaks or other control characters."),
}


@pytest.mark.parametrize("value, message", INVALID.values(), ids=INVALID.keys())
def test_an_invalid_external_id_is_a_field_error(admin_client, make_user, value, message):
    ann = make_user("ann@example.com")

    response = admin_client.post(f"/admin/users/{ann.id}", data=edit_data(ann, external_id=value))

    assert response.status_code == 422
    assert field_error(response, "external_id") == message
    assert reload(ann).external_id is None


def test_255_characters_trimmed_are_accepted(admin_client, make_user):
    ann = make_user("ann@example.com")

    response = admin_client.post(f"/admin/users/{ann.id}", data=edit_data(ann, external_id=" " + "x" * 255 + " "))

    assert response.status_code == 303
    assert reload(ann).external_id == "x" * 255


def test_an_external_id_given_elsewhere_at_the_same_moment_is_the_same_field_error(app, admin_client, make_user):
    """Two admins at once (or a double submit in two tabs): the check passes for both, and the
    unique constraint refuses the later write. That is the field error too, never a 500."""
    kate = make_user("kate@example.com")
    ann = make_user("ann@example.com", first_name="Ann")
    given = []

    def the_other_request_commits_first(session, flush_context, instances):
        if not given:  # between this request's check and its write
            given.append(True)
            with db.engine.begin() as connection:
                connection.execute(sa.update(User).where(User.id == kate.id).values(external_id="E-1234"))

    sa.event.listen(db.session, "before_flush", the_other_request_commits_first)
    try:
        response = admin_client.post(f"/admin/users/{ann.id}",
                                     data=edit_data(ann, first_name="Anna", external_id="E-1234"),
                                     headers=htmx_headers("user-form"))
    finally:
        sa.event.remove(db.session, "before_flush", the_other_request_commits_first)

    assert given
    assert response.status_code == 422
    assert field_error(response, "external_id") == TAKEN
    ann = reload(ann)
    assert (ann.first_name, ann.external_id) == ("Ann", None)
    assert reload(kate).external_id == "E-1234"


def test_the_service_refuses_a_taken_external_id_for_every_caller(app, kate, make_user, admin, now):
    ann = make_user("ann@example.com")
    values = dict(first_name=ann.first_name, last_name=ann.last_name, language=ann.language, role=ann.role,
                  labels=[], additional_info="", deactivate_on=None)

    with pytest.raises(DomainError) as error:
        update_user(ann, actor=admin, now=now, external_id="E-1234", **values)

    assert (error.value.field, error.value.message) == ("external_id", TAKEN)
    db.session.rollback()
    assert update_user(ann, actor=admin, now=now, external_id="E-9", **values) == ["external_id"]
    assert update_user(ann, actor=admin, now=now, external_id=None, **values) == ["external_id"]
    assert ann.external_id is None


# The users search ---------------------------------------------------------------------------


def test_searching_an_exact_external_id_finds_the_person(admin_client, kate, make_user):
    make_user("ann@example.com", first_name="Ann", external_id="E-12345")

    def found(q):
        return emails_in_table(admin_client.get("/admin/users", query_string={"q": q},
                                                headers=htmx_headers("user-table")))

    assert found("E-1234") == ["kate@example.com"]
    assert found("  E-12345 ") == ["ann@example.com"]
    assert found("E-123") == []  # exact, not a part of it
    assert found("kate") == ["kate@example.com"]  # names and emails as before


def test_the_search_by_external_id_is_one_equality(app, kate):
    sql = str(user_search_query("E-1234").compile(compile_kwargs={"literal_binds": True}))

    assert "users.external_id = 'E-1234'" in sql


# Exports --------------------------------------------------------------------------------------


@pytest.fixture
def staff(make_user, make_group):
    """People as HR has them: ids that a spreadsheet would run as formulas, and one without."""
    ann = make_user("ann@example.com", first_name="Ann", last_name="Archer", labels=["vip", "North"],
                    deactivate_on=date(2099, 5, 1), external_id="E-0001", additional_info="Night shift")
    bob = make_user("bob@example.com", first_name="Bob", last_name="Baker", role=Role.manager, language="fr",
                    external_id="-0042")
    cat = make_user("cat@example.com", first_name="Cat", last_name="Cole", status=UserStatus.invited,
                    password=None, external_id="=1+1")
    dan = make_user("dan@example.com", first_name="'=Dan", last_name="Dunn", external_id="'@quoted")
    eve = make_user("eve@example.com", first_name="Eve", last_name="Evans", language="nl")
    make_group("Cohort A", members=[ann, bob, cat])
    make_group("Cohort B", members=[ann, eve])
    return ann, bob, cat, dan, eve


def cli_export(runner, fmt, path=None):
    args = ["lms", "users", "export", "--format", fmt] + (["-o", str(path)] if path else [])
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    return result


def test_json_export_gives_the_external_id_or_null(runner, staff):
    users = {user["email"]: user for user in json.loads(cli_export(runner, "json").stdout)}

    assert {email: user["external_id"] for email, user in users.items()} == {
        "ann@example.com": "E-0001", "bob@example.com": "-0042", "cat@example.com": "=1+1",
        "dan@example.com": "'@quoted", "eve@example.com": None}
    assert list(users["eve@example.com"])[-1] == "external_id"


def test_csv_export_has_the_external_id_column_neutralised(runner, staff):
    rows = list(csv.DictReader(io.StringIO(cli_export(runner, "csv").stdout, newline="")))

    assert list(rows[0])[-1] == "external_id"
    assert {row["email"]: row["external_id"] for row in rows} == {
        "ann@example.com": "E-0001", "bob@example.com": "'-0042", "cat@example.com": "'=1+1",
        "dan@example.com": "''@quoted", "eve@example.com": ""}


def test_xlsx_export_has_the_external_id_column_as_text(runner, staff, tmp_path):
    path = tmp_path / "users.xlsx"
    cli_export(runner, "xlsx", path)

    header, *rows = load_workbook(path)["Users"].iter_rows()
    columns = [cell.value for cell in header]
    assert columns[-1] == "external_id"
    cells = {row[0].value: row[columns.index("external_id")] for row in rows}
    assert {email: cell.value for email, cell in cells.items()} == {
        "ann@example.com": "E-0001", "bob@example.com": "'-0042", "cat@example.com": "'=1+1",
        "dan@example.com": "''@quoted", "eve@example.com": None}
    assert all(cell.data_type != "f" for cell in cells.values())


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_users_page_export_has_the_external_id(admin_client, staff, fmt):
    response = admin_client.get("/admin/users/export", query_string={"format": fmt})

    assert response.status_code == 200
    if fmt == "csv":
        rows = {row["email"]: row for row in csv.DictReader(io.StringIO(text(response)))}
        assert (rows["ann@example.com"]["external_id"], rows["bob@example.com"]["external_id"]) == (
            "E-0001", "'-0042")
    else:
        header, *rows = load_workbook(io.BytesIO(response.data))["Users"].iter_rows()
        columns = [cell.value for cell in header]
        ids = {row[0].value: row[columns.index("external_id")].value for row in rows}
        assert (ids["ann@example.com"], ids["bob@example.com"]) == ("E-0001", "'-0042")


# An export imported back ----------------------------------------------------------------------


def lms_import(runner, path, *args):
    result = runner.invoke(args=["lms", "import", str(path), "--mode", "update", "--json", *args])
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_imported_back_in_update_mode_keeps_everyone_as_they_were(runner, admin, staff, tmp_path, fmt):
    path = tmp_path / f"users.{fmt}"
    cli_export(runner, fmt, path)
    before, emails_before = export_users(), count(OutboxEmail)

    exit_code, report = lms_import(runner, path)

    assert exit_code == 0, report
    assert report["errors"] == []
    assert (report["total_rows"], report["created"], report["updated"], report["unchanged"]) == (6, 0, 0, 6)
    assert any("status" in warning for warning in report["warnings"])  # the one column a roster has not
    db.session.expire_all()
    assert export_users() == before
    assert {user["email"]: user["external_id"] for user in before}["dan@example.com"] == "'@quoted"
    assert count(OutboxEmail) == emails_before


def test_an_edited_export_changes_what_hr_changed_keyed_on_the_external_id(runner, admin, staff, tmp_path):
    """HR corrects an email and a name in the exported file: the external id keeps it the same account."""
    path = tmp_path / "users.csv"
    cli_export(runner, "csv", path)
    before = {user["external_id"]: user for user in export_users()}
    path.write_text(path.read_text(encoding="utf-8").replace("bob@example.com,Bob,", "robert.baker@example.com,Robert,"),
                    encoding="utf-8")

    exit_code, report = lms_import(runner, path)

    assert exit_code == 0, report
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 1, 5)
    db.session.expire_all()
    after = {user["external_id"]: user for user in export_users()}
    assert after["-0042"] == before["-0042"] | {"email": "robert.baker@example.com", "first_name": "Robert"}
    assert {key: user for key, user in after.items() if key != "-0042"} == {
        key: user for key, user in before.items() if key != "-0042"}
    assert count(User) == 6
