"""Rosters exported from other systems import as they are (issue 17, DESIGN §4 and §5).

Each file under tests/fixtures/rosters/ is written the way its system documents it: Moodle's
upload users file (admin/tool/uploaduser), Canvas's SIS users.csv, Discourse's bulk invites (with
and without a header), Open edX's register-and-enroll CSV (email,username,name,country, no
header), Google Workspace's user upload template, and an Excel "CSV (separator ;)" saved in
Windows-1252 with French headers. The workbooks (Go Vocal's invite sheet; a "Read me" sheet
before the roster) are built here with openpyxl. Every file goes through both doors, `lms import`
and the import page, and the people it creates are checked field by field: names the right way
round, groups joined, labels empty when the file had none, a given password that signs in, the
language, the role, the external id; the columns that are not imported are named in the
warnings. Then what the external id does, and two properties: any order of known header names
imports the same people, and no input makes a password land anywhere but in a password hash.
"""
import csv
import io
import json
import re
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from lms.accounts.models import Role, User, UserStatus
from lms.audit.models import AuditEvent
from lms.enrollment.groups.services import group_names_by_user
from lms.enrollment.invitations.services import invite_people
from lms.enrollment.rosters import importer
from lms.enrollment.rosters.headers import ALIASES, field_of
from lms.enrollment.rosters.importer import run_import
from lms.enrollment.rosters.models import ImportJob
from lms.enrollment.rosters.parser import load_roster
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from tests.conftest import count, signs_in, user_of
from tests.enrollment.test_import_views import draft_of, imported, job_of, preview
from tests.pages import text, visible

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rosters"
LANGUAGES = ["en", "fr", "nl"]


# --- the two doors ------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one import did and said, whichever door it came through."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list = field(default_factory=list)  # {"line", "column", "message"}
    warnings: list = field(default_factory=list)
    sheet: str | None = None
    refused: str | None = None  # why the roster was refused whole: `lms import` exits 1, the form says why
    exit_code: int | None = None  # `lms import` only
    shown: str = ""  # everything the person read: the command's output, or the preview and report pages

    def error_lines(self):
        return [(error["line"], error["column"]) for error in self.errors]


class CommandLine:
    """`lms import FILE --json` as an operator runs it (Flask's CLI runner)."""

    def __init__(self, app, tmp_path):
        self.app, self.tmp_path = app, tmp_path

    def __call__(self, data, filename, *, mapping=None, mode="create", sheet=None):
        path = self.tmp_path / filename
        path.write_bytes(data)
        args = ["lms", "import", str(path), "--json", "--mode", mode]
        for column, wanted in (mapping or {}).items():
            args += ["--map", f"{column}={wanted}"]
        if sheet is not None:
            args += ["--sheet", sheet]
        result = self.app.test_cli_runner().invoke(args=args)
        assert "Traceback" not in result.output
        printed = json.loads(result.stdout)  # exactly one JSON value
        if result.exit_code == 1:
            return Outcome(refused=printed["error"], exit_code=1, shown=result.output)
        assert result.exit_code == (2 if printed["errors"] else 0), result.output
        return Outcome(created=printed["created"], updated=printed["updated"], skipped=printed["skipped"],
                       errors=printed["errors"], warnings=printed["warnings"], sheet=printed.get("sheet"),
                       exit_code=result.exit_code, shown=result.output)


class ImportPage:
    """The page: upload the file, read the preview (map its columns if told to), press Import and
    let the job run as the background thread would."""

    def __init__(self, client, now):
        self.client, self.now = client, now

    def __call__(self, data, filename, *, mapping=None, mode="create", sheet=None):
        response = preview(self.client, file=(data, filename), mode=mode)
        if response.status_code == 422:
            return Outcome(refused=visible(text(response)), shown=text(response))
        job_id = draft_of(response)
        if mapping or sheet:
            job_id = self._remap(job_id, mapping or {}, sheet)
        page = text(self.client.get(f"/admin/imports/{job_id}"))
        draft = job_of(job_id)
        warnings = [unescape(visible(warning)) for warning in
                    re.findall(r'<p class="flash flash-info"[^>]*>(.*?)</p>', page, re.S)]
        outcome = Outcome(created=draft.created_count, updated=draft.updated_count, skipped=draft.skipped_count,
                          warnings=warnings, sheet=(draft.options or {}).get("sheet_read"), errors=draft.errors,
                          shown=page)
        if re.search(rf'action="/admin/imports/{job_id}/start"', page) is None:  # nothing to write
            assert outcome.created + outcome.updated == 0
            return outcome
        outcome.shown += imported(self.client, job_id, self.now)
        job = job_of(job_id)
        outcome.created, outcome.updated, outcome.skipped = job.created_count, job.updated_count, job.skipped_count
        outcome.errors = job.errors
        return outcome

    def _remap(self, job_id, mapping, sheet):
        """The mapping step: every column's drop-down set (the columns not named to what they are
        read as now), then Preview again."""
        columns = list(job_of(job_id).options["columns"])
        form = {f"columns-{index}": mapping.get(str(index + 1), columns[index] if index < len(columns) else None)
                or "ignore" for index in range(len(job_of(job_id).options["titles"]))}
        if sheet is not None:
            form["sheet"] = sheet
        response = self.client.post(f"/admin/imports/{job_id}/columns", data=form)
        assert response.status_code == 303, text(response)
        return int(re.fullmatch(r"/admin/imports/(\d+)", response.headers["Location"]).group(1))


@pytest.fixture(params=["command line", "page"])
def door(request, app, tmp_path, now):
    """Each test that takes `door` runs twice: through `lms import` and through the page."""
    if request.param == "command line":
        return CommandLine(app, tmp_path)
    return ImportPage(request.getfixturevalue("admin_client"), now)


# --- reading what was imported ------------------------------------------------------------


def fixture(name):
    return (FIXTURES / name).read_bytes()


def profile(email):
    """The account of `email` as a person reads it, or None."""
    user = user_of(email)
    if user is None:
        return None
    return {"first_name": user.first_name, "last_name": user.last_name, "language": user.language,
            "role": user.role, "status": user.status, "labels": user.labels,
            "additional_info": user.additional_info, "external_id": user.external_id,
            "groups": sorted(group_names_by_user([user.id]).get(user.id, []))}




def all_user_text():
    """Every field of every account (and their labels and groups) as one text, to look for what
    must not be in any of them."""
    db.session.expire_all()
    values = []
    for user in db.session.scalars(select(User)):
        values += [user.email, user.first_name, user.last_name, user.language, user.additional_info,
                   user.external_id or "", *user.labels, *group_names_by_user([user.id]).get(user.id, [])]
    return "\n".join(values)


def ignored_columns(outcome):
    """The column names the warnings say are not imported."""
    said = " ".join(warning for warning in outcome.warnings if "not imported" in warning)
    return set(re.findall(r"“([^”]+)”", said))


def queued_to(address):
    """The kinds of the emails still queued for `address`."""
    db.session.expire_all()
    return db.session.scalars(select(OutboxEmail.kind).where(OutboxEmail.recipient == address,
                                                             OutboxEmail.status == OutboxStatus.queued)).all()


def xlsx(sheets):
    """A workbook of {sheet title: rows}; a row is a list of cells (None: empty)."""
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- Moodle: admin/tool/uploaduser -------------------------------------------------------


def test_moodle_upload_users_with_cohorts_creates_the_people_in_their_cohorts(door, app, make_group):
    make_group("Year 1"), make_group("Year 2")

    outcome = door(fixture("moodle_upload_users.csv"), "moodle_upload_users.csv")

    assert (outcome.created, outcome.errors) == (3, [])
    olivia = profile("olivia.johnson@example.edu")
    assert (olivia["first_name"], olivia["last_name"], olivia["groups"]) == ("Olivia", "Johnson", ["Year 1"])
    assert profile("noah.williams@example.edu")["groups"] == ["Year 2"]
    assert (olivia["labels"], olivia["additional_info"], olivia["external_id"]) == ([], "", None)
    assert (olivia["status"], olivia["role"], olivia["language"]) == (UserStatus.active, Role.learner, "en")
    assert signs_in(app, "olivia.johnson@example.edu", "Cohort-pass-1")
    assert ignored_columns(outcome) == {"username"}


def test_moodle_upload_users_with_a_course_and_its_group_joins_the_group_and_names_course1(door, app, make_group):
    make_group("Section 1"), make_group("Section 3")

    outcome = door(fixture("moodle_upload_users_courses.csv"), "moodle_upload_users_courses.csv")

    assert (outcome.created, outcome.errors) == (2, [])
    liam, ava = profile("liam.garcia@example.edu"), profile("ava.miller@example.edu")
    assert (liam["first_name"], liam["last_name"], liam["groups"]) == ("Liam", "Garcia", ["Section 1"])
    assert (ava["first_name"], ava["last_name"], ava["groups"]) == ("Ava", "Miller", ["Section 3"])
    assert liam["labels"] == [] and ava["labels"] == []
    assert signs_in(app, "ava.miller@example.edu", "longsecret2")
    assert ignored_columns(outcome) == {"username", "course1"}
    assert "math102" not in all_user_text()


# --- Canvas: SIS users.csv ---------------------------------------------------------------


def test_canvas_sis_users_keep_their_sis_id_and_names_and_the_rest_is_named(door, app):
    outcome = door(fixture("canvas_users.csv"), "canvas_users.csv")

    assert (outcome.created, outcome.errors) == (3, [])
    bob, john, peggy = (profile(f"{name}@myschool.edu") for name in ("bob.smith", "john.doe", "peggy.sue"))
    assert (bob["first_name"], bob["last_name"], bob["external_id"]) == ("Bob", "Smith", "01103")  # not 1103
    assert (john["first_name"], john["last_name"], john["external_id"]) == ("John", "Doe", "13834")
    # Peggy has only a full_name: its last word is her last name.
    assert (peggy["first_name"], peggy["last_name"], peggy["external_id"]) == ("Peggy", "Sue", "13aa3")
    assert john["status"] == UserStatus.active and signs_in(app, "john.doe@myschool.edu", "Canvas-pass-13834")
    assert bob["status"] == UserStatus.invited and queued_to("bob.smith@myschool.edu") == ["invitation"]
    assert all(person["labels"] == [] and person["role"] == Role.learner for person in (bob, john, peggy))
    assert ignored_columns(outcome) >= {"integration_id", "login_id", "ssha_password", "authentication_provider_id",
                                        "sortable_name", "short_name", "pronouns", "status"}
    assert any("full_name" in warning for warning in outcome.warnings)
    everything = all_user_text()
    assert "SSHA" not in everything and "bsmith01" not in everything and "Smith, Bob" not in everything


# --- Discourse: bulk invites --------------------------------------------------------------


def test_discourse_bulk_invites_join_every_group_of_a_semicolon_list(door, make_group):
    make_group("discourse"), make_group("ubuntu")

    outcome = door(fixture("discourse_bulk_invite.csv"), "discourse_bulk_invite.csv")

    assert (outcome.created, outcome.errors) == (3, [])
    assert profile("kim@example.com")["groups"] == ["discourse", "ubuntu"]
    assert profile("lee@example.com")["groups"] == ["ubuntu"]
    max_ = profile("max@example.com")
    assert (max_["groups"], max_["labels"], max_["first_name"], max_["last_name"]) == ([], [], "", "")
    assert ignored_columns(outcome) == {"location"}
    assert "usa" not in all_user_text()


def test_a_headerless_discourse_file_stops_saying_its_emails_are_in_column_1(door, make_group):
    make_group("discourse"), make_group("ubuntu")

    outcome = door(fixture("discourse_headerless.csv"), "discourse_headerless.csv")

    assert outcome.created == 0 and count(User) == (1 if isinstance(door, ImportPage) else 0)
    assert outcome.exit_code in (None, 2)
    said = unescape(visible(outcome.shown)) + " ".join(error["message"] for error in outcome.errors)
    assert "its emails are in column 1" in said
    assert "--map 1=email" in said
    assert (1, "email") in outcome.error_lines()


def test_a_headerless_discourse_file_imports_right_once_its_columns_are_mapped(door, make_group):
    make_group("discourse"), make_group("ubuntu")

    outcome = door(fixture("discourse_headerless.csv"), "discourse_headerless.csv",
                   mapping={"1": "email", "2": "groups", "3": "ignore"})

    assert (outcome.created, outcome.errors) == (3, [])
    kim = profile("kim@example.com")
    assert (kim["groups"], kim["first_name"], kim["last_name"], kim["labels"]) == (["discourse", "ubuntu"], "", "", [])
    assert profile("lee@example.com")["groups"] == ["ubuntu"]
    assert profile("max@example.com")["groups"] == []
    assert "8888" not in all_user_text() and "100" not in all_user_text()
    assert any("column 3 as not imported" in warning for warning in outcome.warnings)


# --- Open edX: register and enroll (email,username,name,country, no header) ---------------


def test_an_open_edx_file_stops_then_imports_its_full_names_once_mapped(door):
    stopped = door(fixture("openedx.csv"), "openedx.csv")

    assert stopped.created == 0 and user_of("ana.silva@example.org") is None
    assert "its emails are in column 1" in unescape(visible(stopped.shown)) + " ".join(
        error["message"] for error in stopped.errors)

    outcome = door(fixture("openedx.csv"), "openedx.csv",
                   mapping={"1": "email", "2": "ignore", "3": "full_name", "4": "ignore"})

    assert (outcome.created, outcome.errors) == (3, [])
    ana, kofi, mei = profile("ana.silva@example.org"), profile("kofi.mensah@example.org"), profile("mei@example.org")
    assert (ana["first_name"], ana["last_name"]) == ("Ana", "Silva")
    assert (kofi["first_name"], kofi["last_name"]) == ("Kofi", "Mensah")
    assert (mei["first_name"], mei["last_name"]) == ("Mei", "")
    assert all(person["labels"] == [] for person in (ana, kofi, mei))  # the country is not a label
    assert "asilva" not in all_user_text()
    assert any("taken from the column" in warning for warning in outcome.warnings)


def test_lms_import_says_how_the_columns_a_mapping_leaves_out_are_read(app, tmp_path):
    command = CommandLine(app, tmp_path)

    outcome = command(fixture("openedx.csv"), "openedx.csv", mapping={"1": "email", "3": "full_name"})

    # Read by the template's order, the username is a first name and the country a label: said.
    [warning] = outcome.warnings
    assert "the others in the template's order: column 2 as first name, column 4 as labels" in warning
    assert "column 1 as email, column 3 as full name" in warning


# --- Go Vocal (CitizenLab): the invite sheet ----------------------------------------------


def go_vocal_invites():
    """Go Vocal's invite template (email, first_name, last_name, language, groups, admin): groups
    by title, several separated by commas; admin TRUE/FALSE as real booleans or as text."""
    return xlsx({"Invites": [
        ["email", "first_name", "last_name", "language", "groups", "admin"],
        ["wim.peeters@example.be", "Wim", "Peeters", "nl-BE", "Gent,Antwerpen", True],
        ["ines.dupont@example.be", "Inès", "Dupont", "fr-BE", "Gent", False],
        ["jan.janssens@example.be", "Jan", "Janssens", "nl-BE", None, "TRUE"],
        ["sofie.maes@example.be", "Sofie", "Maes", "nl", "Antwerpen", "FALSE"],
    ]})


def test_a_go_vocal_invite_sheet_keeps_regional_languages_and_makes_true_admins_admins(door, make_group):
    make_group("Gent"), make_group("Antwerpen")

    outcome = door(go_vocal_invites(), "invites.xlsx")

    assert (outcome.created, outcome.errors, ignored_columns(outcome)) == (4, [], set())
    wim, ines = profile("wim.peeters@example.be"), profile("ines.dupont@example.be")
    jan, sofie = profile("jan.janssens@example.be"), profile("sofie.maes@example.be")
    assert (wim["first_name"], wim["last_name"], wim["language"], wim["role"]) == (
        "Wim", "Peeters", "nl-BE", Role.admin)
    assert wim["groups"] == ["Antwerpen", "Gent"]
    assert (ines["first_name"], ines["language"], ines["role"], ines["groups"]) == (
        "Inès", "fr-BE", Role.learner, ["Gent"])
    assert (jan["language"], jan["role"], jan["groups"]) == ("nl-BE", Role.admin, [])
    assert (sofie["language"], sofie["role"], sofie["groups"]) == ("nl", Role.learner, ["Antwerpen"])
    assert all(person["labels"] == [] and person["status"] == UserStatus.invited for person in (wim, ines, jan, sofie))
    assert outcome.sheet == "Invites"


# --- Google Workspace: the user upload template -------------------------------------------

GOOGLE_PASSWORDS = ("Wd7!kPq2zR", "Tq9#vLm4xB")


def test_a_google_workspace_template_keeps_names_apart_and_passwords_only_as_passwords(door, app):
    outcome = door(fixture("google_workspace.csv"), "google_workspace.csv")

    assert (outcome.created, outcome.errors) == (2, [])
    alex, sam = profile("alex.martin@example.com"), profile("sam.nguyen@example.com")
    assert (alex["first_name"], alex["last_name"], alex["external_id"]) == ("Alex", "Martin", "E-20417")
    assert (sam["first_name"], sam["last_name"], sam["external_id"]) == ("Sam", "Nguyen", "E-20418")
    assert alex["labels"] == [] and sam["labels"] == [] and alex["additional_info"] == ""
    assert alex["status"] == UserStatus.active and signs_in(app, "alex.martin@example.com", GOOGLE_PASSWORDS[0])
    assert signs_in(app, "sam.nguyen@example.com", GOOGLE_PASSWORDS[1])
    assert queued_to("alex.martin@example.com") == ["account_created"]  # no invitation: the account is set up
    for password in GOOGLE_PASSWORDS:
        assert password not in all_user_text()
        assert password not in outcome.shown  # neither in the preview, the report nor the command's output
    assert {"Password Hash Function [UPLOAD ONLY]", "Org Unit Path [Required]", "New Primary Email [UPLOAD ONLY]",
            "Recovery Email", "Manager Email", "Department"} <= ignored_columns(outcome)
    assert any("and 2 more" in warning for warning in outcome.warnings)  # 22 columns, the first 20 named
    # "Change Password at Next Sign-In" is read: Sam (TRUE) is asked for a new password, Alex (FALSE) is not.
    assert "Change Password at Next Sign-In" not in ignored_columns(outcome)
    assert user_of("sam.nguyen@example.com").must_change_password and not user_of("alex.martin@example.com").must_change_password
    assert "grace.hopper@example.com" not in all_user_text() and "Finance" not in all_user_text()
    assert user_of("grace.hopper@example.com") is None and user_of("alex.recovery@example.net") is None


def test_a_two_column_header_decides_the_delimiter_even_when_a_password_holds_semicolons(door, app):
    """Issue 17, found by the password property: the header's single comma did not decide, the
    next line's semicolons did, and pieces of the password were quoted in "not a valid email"."""
    roster = 'email,password\nann@example.com,"pa;ss;wo;rd"\nbob@example.com,pa;ss;;word\n'

    outcome = door(roster.encode(), "two-columns.csv")

    assert (outcome.created, outcome.errors) == (2, [])
    assert signs_in(app, "ann@example.com", "pa;ss;wo;rd") and signs_in(app, "bob@example.com", "pa;ss;;word")
    assert "pa;ss" not in outcome.shown and "pa;ss" not in all_user_text()


# --- Excel: "CSV (separator ;)" in Windows-1252 with French headers ----------------------


def test_the_french_excel_fixture_really_is_windows_1252():
    data = fixture("french_excel.csv")

    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert data.decode("cp1252").startswith("Prénom;Nom;Adresse e-mail;Groupe\r\n")
    assert "Lœuillet".encode("cp1252") in data  # œ is 0x9C: Windows-1252, not Latin-1


def test_a_french_excel_csv_puts_prenom_in_the_first_name_and_groupe_in_the_groups(door, make_group):
    make_group("Ventes Nord"), make_group("Comptabilité")

    outcome = door(fixture("french_excel.csv"), "french_excel.csv")

    assert (outcome.created, outcome.errors, outcome.warnings) == (3, [], [])
    lea, jerome = profile("lea.dubois@exemple.fr"), profile("jerome.loeuillet@exemple.fr")
    francoise = profile("francoise.lefevre@exemple.fr")
    assert (lea["first_name"], lea["last_name"], lea["groups"], lea["labels"]) == ("Léa", "Dubois", ["Ventes Nord"], [])
    assert (jerome["first_name"], jerome["last_name"]) == ("Jérôme", "Lœuillet")
    assert (francoise["first_name"], francoise["last_name"], francoise["groups"]) == (
        "Françoise", "Lefèvre", ["Comptabilité"])


# --- layouts: a "Read me" sheet and a title row; Excel's leftover rows; empty rosters ------


def workbook_with_a_read_me_first():
    """A template as HR sends it: a "Read me" sheet that describes the columns (so its lines
    name them, as a header would), then the roster below a title row on the second sheet."""
    return xlsx({
        "Read me": [
            ["Staff roster: how to fill it in"],
            [None],
            ["Column", "What to write"],
            ["First name", "As on the person's badge"],
            ["Last name", "Family name"],
            ["Email", "The work email address (required)"],
            ["Group", "A team, such as Sales North"],
        ],
        "Staff": [
            ["Staff roster, March 2026"],
            [None],
            ["First name", "Last name", "Email", "Group"],
            ["Ana", "Lopez", "ana.lopez@example.com", "Sales North"],
            ["Ben", "Okafor", "ben.okafor@example.com", None],
        ],
    })


def test_a_workbook_is_read_from_its_roster_sheet_below_its_title_row_and_says_so(door, make_group):
    make_group("Sales North")

    outcome = door(workbook_with_a_read_me_first(), "staff.xlsx")

    assert (outcome.created, outcome.errors, outcome.sheet) == (2, [], "Staff")
    ana, ben = profile("ana.lopez@example.com"), profile("ben.okafor@example.com")
    assert (ana["first_name"], ana["last_name"], ana["groups"], ana["labels"]) == ("Ana", "Lopez", ["Sales North"], [])
    assert (ben["first_name"], ben["last_name"], ben["groups"]) == ("Ben", "Okafor", [])
    said = " ".join(outcome.warnings)
    assert "Read the sheet “Staff”" in said and "“Read me”" in said
    assert "Line above the header, not read: “Staff roster, March 2026”." in said
    assert count(User) == (3 if isinstance(door, ImportPage) else 2)


def test_lms_import_reads_the_sheet_it_is_told_to(app, tmp_path, make_group):
    make_group("Sales North")

    outcome = CommandLine(app, tmp_path)(workbook_with_a_read_me_first(), "staff.xlsx", sheet="staff")

    assert (outcome.created, outcome.sheet) == (2, "Staff")
    assert not any("first one holding a roster" in warning for warning in outcome.warnings)


def test_excel_s_leftover_empty_rows_are_skipped_like_blank_lines(door):
    outcome = door(fixture("excel_leftover_rows.csv"), "excel_leftover_rows.csv")

    assert (outcome.created, outcome.errors, outcome.warnings) == (2, [], [])
    assert outcome.exit_code in (None, 0)
    assert profile("ana.lopez@example.com")["labels"] == []
    assert profile("ben.okafor@example.com")["labels"] == ["Night shift"]
    assert db.session.scalar(select(ImportJob.rows_total)) == 2


@pytest.mark.parametrize("name", ["only_header.csv", "only_empty_rows.csv"])
def test_an_empty_roster_is_refused_saying_it_has_no_rows(door, name):
    outcome = door(fixture(name), name)

    assert outcome.refused is not None and "has no rows to import" in outcome.refused
    assert outcome.exit_code in (None, 1)
    assert count(ImportJob) == 0 and count(User) == (1 if isinstance(door, ImportPage) else 0)


# --- external ids -------------------------------------------------------------------------

HR_EXPORT = "Employee ID,Email Address,First Name,Last Name\nE-1001,jane.new@example.com,Jane,Doe\n"


@pytest.fixture
def jane(app, now):
    """Jane, invited as jane.old@example.com (her invitation email still queued), E-1001 in HR."""
    invite_people(["jane.old@example.com"], actor=None, now=now)
    person = user_of("jane.old@example.com")
    person.external_id, person.first_name = "E-1001", "Janet"
    db.session.commit()
    assert queued_to("jane.old@example.com") == ["invitation"]
    return person.id


def test_an_hr_export_in_update_mode_changes_the_email_of_the_person_with_its_external_id(door, jane):
    outcome = door(HR_EXPORT.encode(), "hr.csv", mode="update")

    assert (outcome.updated, outcome.created, outcome.errors) == (1, 0, [])
    assert user_of("jane.old@example.com") is None
    moved = user_of("jane.new@example.com")
    assert (moved.id, moved.first_name, moved.last_name, moved.external_id) == (jane, "Jane", "Doe", "E-1001")
    # What was still to be sent goes to the new address.
    assert queued_to("jane.new@example.com") == ["invitation"] and queued_to("jane.old@example.com") == []


def test_an_hr_export_in_create_mode_skips_the_person_with_its_external_id(door, jane):
    outcome = door(HR_EXPORT.encode(), "hr.csv")

    assert (outcome.skipped, outcome.created, outcome.updated, outcome.errors) == (1, 0, 0, [])
    kept = user_of("jane.old@example.com")
    assert (kept.id, kept.first_name) == (jane, "Janet")
    assert user_of("jane.new@example.com") is None
    assert queued_to("jane.old@example.com") == ["invitation"]


def test_two_rows_for_one_account_are_an_error_on_the_later_line(door, jane):
    roster = HR_EXPORT + ",jane.old@example.com,Jane,Old\n"  # the same person, by her old email

    outcome = door(roster.encode(), "hr.csv", mode="update")

    assert outcome.error_lines() == [(3, "email")]
    assert "same account as line 2" in outcome.errors[0]["message"]
    assert outcome.updated == 1 and user_of("jane.new@example.com").id == jane


def test_one_external_id_on_two_rows_is_an_error_on_the_later_line(door):
    roster = "external id,email\nE-7,first@example.com\nE-7,second@example.com\n"

    outcome = door(roster.encode(), "hr.csv")

    assert outcome.error_lines() == [(3, "external_id")]
    assert "E-7 is already on line 2" in outcome.errors[0]["message"]
    assert outcome.created == 1 and user_of("second@example.com") is None


def test_a_new_email_that_is_someone_else_s_is_an_error_not_a_merge(door, jane, make_user):
    make_user("jane.new@example.com", first_name="Other")

    outcome = door(HR_EXPORT.encode(), "hr.csv", mode="update")

    assert outcome.error_lines() == [(2, "email")] and outcome.updated == 0
    assert user_of("jane.old@example.com").id == jane and user_of("jane.new@example.com").first_name == "Other"


# --- properties ---------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SPELLINGS = st.sampled_from([str, str.upper, str.lower, str.title, lambda name: name.replace(" ", "_"),
                             lambda name: name.replace(" ", "-"), lambda name: f" {name} [Required]"])


def names_of(wanted):
    """Our name of a field and every alias the table has for it."""
    return st.sampled_from((wanted, *ALIASES[wanted]))


@pytest.fixture
def quick_hashes(monkeypatch):
    """Password hashes that cost nothing, so a property can run many imports in seconds."""
    monkeypatch.setattr(importer, "hash_passwords",
                        lambda passwords: [generate_password_hash(p, method="pbkdf2:sha256:1") for p in passwords])


@pytest.fixture
def teams(make_group):
    """The groups the properties' rosters name (committed once: each example is rolled back)."""
    return make_group("Team A"), make_group("Team B")


def imported_people(data, now):
    """Import `data` through the service, read what every account holds, and roll it back (a
    property runs many examples in one test's database)."""
    try:
        roster = load_roster(data, languages=LANGUAGES)
        report = run_import(roster, actor=None, now=now)
        db.session.flush()
        people = {}
        for user in db.session.scalars(select(User)):
            people[user.email] = {"first_name": user.first_name, "last_name": user.last_name,
                                  "language": user.language, "role": user.role, "labels": user.labels,
                                  "additional_info": user.additional_info, "external_id": user.external_id,
                                  "groups": sorted(group_names_by_user([user.id]).get(user.id, [])),
                                  "password_hash": user.password_hash}
        contexts = [json.dumps(row.context or {}) for row in db.session.scalars(select(OutboxEmail))]
        contexts += [json.dumps(row.details or {}) for row in db.session.scalars(select(AuditEvent))]
        return report, people, contexts
    finally:
        db.session.rollback()


PEOPLE = [
    {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "labels": "Maths | Poetry",
     "language": "fr", "groups": "Team A", "role": "teacher", "external_id": "HR-1",
     "additional_info": "Countess", "password": "analytical-engine"},
    {"email": "alan@example.com", "first_name": "Alan", "last_name": "Turing", "labels": "",
     "language": "nl-BE", "groups": "Team A;Team B", "role": "student", "external_id": "HR-2",
     "additional_info": "", "password": ""},
    {"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper", "labels": "Navy",
     "language": "", "groups": "", "role": "", "external_id": "", "additional_info": "Admiral",
     "password": "cobol-compiler"},
]
EXPECTED = {
    "ada@example.com": {"first_name": "Ada", "last_name": "Lovelace", "language": "fr", "role": Role.manager,
                        "labels": ["Maths", "Poetry"], "additional_info": "Countess", "external_id": "HR-1",
                        "groups": ["Team A"]},
    "alan@example.com": {"first_name": "Alan", "last_name": "Turing", "language": "nl-BE", "role": Role.learner,
                         "labels": [], "additional_info": "", "external_id": "HR-2", "groups": ["Team A", "Team B"]},
    "grace@example.com": {"first_name": "Grace", "last_name": "Hopper", "language": "en", "role": Role.learner,
                          "labels": ["Navy"], "additional_info": "Admiral", "external_id": None, "groups": []},
}


@st.composite
def known_headers(draw):
    """The columns of PEOPLE in any order, each under our name or an alias, spelt any way."""
    columns = draw(st.permutations(list(PEOPLE[0])))
    return [(column, draw(SPELLINGS)(draw(names_of(column)))) for column in columns]


@PROPERTY_SETTINGS
@given(header=known_headers(), delimiter=st.sampled_from([",", ";", "\t"]))
def test_any_order_of_known_header_names_imports_the_same_people(teams, quick_hashes, now, header, delimiter):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([name for _, name in header])
    for person in PEOPLE:
        writer.writerow([person[column] for column, _ in header])

    report, people, _ = imported_people(out.getvalue().encode(), now)

    assert (report.created, report.errors) == (3, []), (header, report.errors)
    assert {email: {key: value for key, value in fields.items() if key != "password_hash"}
            for email, fields in people.items()} == EXPECTED
    for person in PEOPLE:
        stored = people[person["email"]]["password_hash"]
        assert (stored is None) if not person["password"] else check_password_hash(stored, person["password"])


SECRET = "§"  # in every password, and in no other cell: wherever it shows, a password leaked
CELL_ALPHABET = st.sampled_from(list("abcXYZ019 éß-_.@;,|'\"#\t") + ["nl-BE", "TRUE", "admin", "Team A"])
cells = st.lists(CELL_ALPHABET, max_size=12).map("".join)
passwords = st.lists(st.sampled_from(list("abcXYZ019 -_.;,|'\"")), min_size=7, max_size=20).map(
    lambda characters: SECRET + "".join(characters))
ALL_NAMES = [name for wanted, names in ALIASES.items() if wanted != "password" for name in (wanted, *names)]
unknown_names = st.text(st.sampled_from(list("abcdefXYZ _-[]()0123")), min_size=1, max_size=15).filter(
    lambda name: field_of(name) is None)


@st.composite
def rosters_with_a_password_column(draw):
    """A header of an email column, a password column and up to six others (names from the
    alias table, or names that mean nothing), in any order; rows of random cells."""
    others = draw(st.lists(st.one_of(st.sampled_from(ALL_NAMES).map(draw(SPELLINGS)), unknown_names), max_size=6))
    names = [draw(names_of("email").map(draw(SPELLINGS))), draw(names_of("password").map(draw(SPELLINGS)))] + others
    order = draw(st.permutations(range(len(names))))
    rows = []
    for number in range(draw(st.integers(1, 4))):
        row = [f"person{number}@example.com", draw(passwords)] + [draw(cells) for _ in others]
        rows.append([row[index] for index in order])
    return [names[index] for index in order], rows, order.index(0), order.index(1)


@PROPERTY_SETTINGS
@given(roster=rosters_with_a_password_column(), delimiter=st.sampled_from([",", ";", "\t"]))
def test_no_input_makes_a_password_land_anywhere_but_in_its_hash(teams, quick_hashes, now, roster, delimiter):
    names, rows, email_at, password_at = roster
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(names)
    writer.writerows(rows)

    report, people, contexts = imported_people(out.getvalue().encode(), now)

    for email, fields in people.items():
        assert not any(SECRET in str(value) for key, value in fields.items() if key != "password_hash"), (
            names, rows, email, fields)
    assert not any(SECRET in context for context in contexts)
    assert not any(SECRET in error.message for error in report.errors)
    given_passwords = {row[email_at]: row[password_at] for row in rows}
    for email, fields in people.items():
        if email in given_passwords and fields["password_hash"] is not None:
            assert check_password_hash(fields["password_hash"], given_passwords[email].strip())
