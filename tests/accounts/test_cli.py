"""`lms users export`, `lms run-due` and `lms demo` (DESIGN §5)."""
import csv
import io
import json
from datetime import date, datetime, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from lms.accounts.models import Role, User, UserStatus
from lms.enrollment.groups.models import Group, GroupMembership
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.programs.models import Enrollment, EnrollmentGroup, EnrollmentStatus, Program, ProgramSession, SessionGroup

EXPORT_KEYS = ["email", "first_name", "last_name", "language", "role", "status", "labels",
               "groups", "additional_info", "deactivate_on", "external_id"]
FORMULA = '=HYPERLINK("http://evil.example/x","Click")'


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def export(runner, *args):
    result = runner.invoke(args=["lms", "users", "export", *args])
    assert result.exit_code == 0, result.output
    return result


def export_json(runner, *args):
    return json.loads(export(runner, "--format", "json", *args).stdout)


@pytest.fixture
def tricky_user(make_user, make_group):
    """A user whose fields a spreadsheet would run as formulas if written as they are."""
    user = make_user("tricky@example.com", first_name=FORMULA, last_name="+1+1",
                     labels=["@SUM(1)"], additional_info="-2+3")
    make_group("=cmd|' /C calc'!A0", members=[user])
    return user


# --- export ------------------------------------------------------------------------------


def test_json_export_gives_exactly_the_documented_fields(runner, make_user, make_group):
    marie = make_user("marie.dubois@example.com", first_name="Marie", last_name="Dubois",
                      role=Role.manager, language="fr", labels=["North", "France"],
                      additional_info="Photographer", deactivate_on=date(2026, 6, 30), external_id="E-1234")
    make_user("nina.novak@example.com", first_name="Nina", last_name="Novak",
              status=UserStatus.invited, password=None)
    make_group("Sales North", members=[marie])
    make_group("benelux", members=[marie])

    users = export_json(runner)

    assert [list(user) for user in users] == [EXPORT_KEYS, EXPORT_KEYS]
    assert users == [
        {
            "email": "marie.dubois@example.com",
            "first_name": "Marie",
            "last_name": "Dubois",
            "language": "fr",
            "role": "manager",
            "status": "active",
            "labels": ["France", "North"],
            "groups": ["benelux", "Sales North"],
            "additional_info": "Photographer",
            "deactivate_on": "2026-06-30",
            "external_id": "E-1234",
        },
        {
            "email": "nina.novak@example.com",
            "first_name": "Nina",
            "last_name": "Novak",
            "language": "en",
            "role": "learner",
            "status": "invited",
            "labels": [],
            "groups": [],
            "additional_info": "",
            "deactivate_on": None,
            "external_id": None,
        },
    ]


def test_the_json_flag_also_gives_json(runner, make_user):
    make_user("marie.dubois@example.com")

    result = export(runner, "--json")

    assert [user["email"] for user in json.loads(result.stdout)] == ["marie.dubois@example.com"]


@pytest.mark.parametrize("reference", ["name", "public_id", "public_id_lower", "id"])
def test_export_of_a_group_lists_only_its_members(runner, make_user, make_group, reference):
    inside = [make_user("b.member@example.com"), make_user("a.member@example.com")]
    make_user("outsider@example.com")
    group = make_group("Sales North", members=inside)
    make_group("Other", members=[make_user("other@example.com")])
    value = {"name": "Sales North", "public_id": group.public_id,
             "public_id_lower": group.public_id.lower(), "id": str(group.id)}[reference]

    users = export_json(runner, "--group", value)

    assert sorted(user["email"] for user in users) == ["a.member@example.com",
                                                        "b.member@example.com"]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_of_an_unknown_group_exits_1(runner, make_user, fmt):
    make_user("marie.dubois@example.com")

    result = runner.invoke(args=["lms", "users", "export", "--format", fmt, "--group", "Nope"])

    assert result.exit_code == 1
    assert "Nope" in result.stderr
    assert "marie.dubois@example.com" not in result.stdout
    assert "Traceback" not in result.output


def test_export_of_an_unknown_group_with_json_prints_a_json_error(runner):
    result = runner.invoke(args=["lms", "users", "export", "--json", "--group", "G-ZZZZZZ"])

    assert result.exit_code == 1
    assert set(json.loads(result.stdout)) == {"error"}


def test_csv_export_has_a_header_row_and_neutralises_formulas(runner, make_user, tricky_user):
    make_user("plain@example.com", first_name="Jean-Luc", last_name="O'Brien",
              labels=["North"], additional_info="likes = signs")

    result = export(runner, "--format", "csv")

    rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert rows[0] == EXPORT_KEYS
    records = {row[0]: dict(zip(EXPORT_KEYS, row)) for row in rows[1:]}
    assert set(records) == {"plain@example.com", "tricky@example.com"}
    tricky = records["tricky@example.com"]
    assert tricky["first_name"] == "'" + FORMULA
    assert tricky["last_name"] == "'+1+1"
    assert tricky["labels"] == "'@SUM(1)"
    assert tricky["additional_info"] == "'-2+3"
    assert tricky["groups"] == "'=cmd|' /C calc'!A0"
    plain = records["plain@example.com"]
    assert (plain["first_name"], plain["last_name"], plain["labels"], plain["additional_info"]) == (
        "Jean-Luc", "O'Brien", "North", "likes = signs"
    )


def test_csv_export_cells_never_start_with_a_formula_character(runner, make_user, tricky_user):
    make_user("tab@example.com", first_name="\t=1+1", last_name="\r=2+2")

    result = export(runner, "--format", "csv")

    for row in list(csv.reader(io.StringIO(result.stdout, newline="")))[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_xlsx_export_writes_a_workbook_without_formulas(runner, make_user, tricky_user, tmp_path):
    make_user("plain@example.com", first_name="Jean-Luc", last_name="Picard")
    path = tmp_path / "users.xlsx"

    export(runner, "--format", "xlsx", "-o", str(path))

    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows())
    assert [cell.value for cell in rows[0]] == EXPORT_KEYS
    for row in rows:
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
    records = {row[0].value: dict(zip(EXPORT_KEYS, [cell.value for cell in row]))
               for row in rows[1:]}
    assert set(records) == {"plain@example.com", "tricky@example.com"}
    tricky = records["tricky@example.com"]
    assert tricky["first_name"] == "'" + FORMULA
    assert tricky["last_name"] == "'+1+1"
    assert tricky["labels"] == "'@SUM(1)"
    assert tricky["additional_info"] == "'-2+3"
    assert tricky["groups"] == "'=cmd|' /C calc'!A0"
    assert records["plain@example.com"]["first_name"] == "Jean-Luc"


# --- run-due -----------------------------------------------------------------------------


def test_run_due_deactivates_accounts_whose_day_has_come_once(runner, make_user):
    leaving = make_user("leaving@example.com", deactivate_on=date(2026, 3, 5))
    staying = make_user("staying@example.com", deactivate_on=date(2026, 3, 6))

    first = runner.invoke(args=["lms", "run-due", "--at", "2026-03-05T00:00", "--json"])
    second = runner.invoke(args=["lms", "run-due", "--at", "2026-03-05T00:00", "--json"])

    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["deactivated_users"] == 1
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["deactivated_users"] == 0
    db.session.expire_all()
    assert db.session.get(User, leaving.id).status == UserStatus.deactivated
    assert db.session.get(User, staying.id).status == UserStatus.active


def test_run_due_just_before_the_day_deactivates_nobody(runner, make_user):
    user = make_user("leaving@example.com", deactivate_on=date(2026, 3, 5))

    result = runner.invoke(args=["lms", "run-due", "--at", "2026-03-04T23:59", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deactivated_users"] == 0
    db.session.expire_all()
    assert db.session.get(User, user.id).status == UserStatus.active


def test_run_due_with_a_bad_date_exits_1(runner):
    result = runner.invoke(args=["lms", "run-due", "--at", "next tuesday"])

    assert result.exit_code == 1
    assert "next tuesday" in result.stderr
    assert "Traceback" not in result.output


# --- demo --------------------------------------------------------------------------------


def test_demo_loads_logins_that_work(runner, client):
    result = runner.invoke(args=["lms", "demo", "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["skipped"] is False
    roles = {login["role"] for login in data["logins"]}
    assert roles == {"admin", "manager", "learner"}
    for login in data["logins"]:
        user = db.session.scalar(select(User).where(User.email == login["email"]))
        assert user is not None and user.role == Role(login["role"])
        assert user.status == UserStatus.active
    admin = next(login for login in data["logins"] if login["role"] == "admin")
    response = client.post("/login", data={"email": admin["email"], "password": admin["password"]})
    assert response.status_code == 303
    assert count(Group) >= 1 and count(Program) >= 1


def test_running_demo_twice_creates_nothing_twice(runner):
    first = runner.invoke(args=["lms", "demo", "--json"])
    assert first.exit_code == 0, first.output
    before = {model.__name__: count(model)
              for model in (User, Group, GroupMembership, Program, ProgramSession)}

    second = runner.invoke(args=["lms", "demo", "--json"])

    assert second.exit_code == 0, second.output
    db.session.expire_all()
    after = {model.__name__: count(model)
             for model in (User, Group, GroupMembership, Program, ProgramSession)}
    assert after == before
    assert json.loads(second.stdout)["logins"] == json.loads(first.stdout)["logins"]


def test_every_invited_person_of_the_demo_has_their_invitation_and_consistent_sessions(runner):
    """Issue 16 line 14: the demo had a learner "invited" with no invitation."""
    result = runner.invoke(args=["lms", "demo", "--json"])
    assert result.exit_code == 0, result.output
    seeded = datetime.now(timezone.utc)

    def queued(kind, **target):
        return db.session.scalars(select(OutboxEmail).where(
            OutboxEmail.kind == kind, OutboxEmail.status == OutboxStatus.queued,
            *(getattr(OutboxEmail, name) == value for name, value in target.items()))).all()

    invited = db.session.scalars(select(User).where(User.status == UserStatus.invited)).all()
    assert [person.email for person in invited] == ["nina.novak@example.com"]
    for person in invited:
        (invitation,) = db.session.scalars(select(Invitation).where(Invitation.user_id == person.id)).all()
        assert invitation.status == InvitationStatus.pending and invitation.expires_at > seeded
        assert person.password_hash is None and invitation.role == person.role == Role.learner
        assert len(queued("invitation", invitation_id=invitation.id)) == 1
        enrollments = db.session.scalars(select(Enrollment).where(Enrollment.user_id == person.id)).all()
        assert len(enrollments) == 2  # the ongoing and the upcoming sessions of New hires 2026
        for enrollment in enrollments:
            session = enrollment.session
            assert enrollment.status == EnrollmentStatus.invited and enrollment.responded_at is None
            assert session.ends_at > seeded  # nobody is invited to a session that has ended (R2)
            sources = db.session.scalars(select(EnrollmentGroup.group_id)
                                         .where(EnrollmentGroup.enrollment_id == enrollment.id)).all()
            assert enrollment.is_direct or sources  # something keeps it (R5)
            for group_id in sources:  # each group that brought it is the session's and has them
                assert db.session.get(SessionGroup, (session.id, group_id)) is not None
                assert db.session.get(GroupMembership, (group_id, person.id)) is not None
            assert enrollment.email_sent_at is None
            (email,) = queued("session_invitation", enrollment_id=enrollment.id)
            assert email.due_at == enrollment.email_due_at == max(session.starts_at, email.created_at)
    # and no pending invitation is left to someone who is not waiting for one
    holders = db.session.scalars(select(User.status).join(Invitation, Invitation.user_id == User.id)
                                 .where(Invitation.status == InvitationStatus.pending)).all()
    assert holders == [UserStatus.invited] * len(invited)


def test_demo_if_empty_skips_a_database_that_has_users(runner, make_user):
    make_user("someone@example.com")

    result = runner.invoke(args=["lms", "demo", "--if-empty", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skipped"] is True
    assert [user.email for user in db.session.scalars(select(User))] == ["someone@example.com"]
    assert count(Group) == 0


def test_demo_if_empty_loads_an_empty_database(runner):
    result = runner.invoke(args=["lms", "demo", "--if-empty", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skipped"] is False
    assert count(User) > 0


def test_export_to_a_file_with_json_prints_a_summary(runner, make_user, tmp_path):
    make_user("ann@example.com")
    target = tmp_path / "users.csv"

    result = runner.invoke(args=["lms", "users", "export", "--format", "csv", "-o", str(target), "--json"])

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"output": str(target), "format": "csv", "count": 1}
    assert "ann@example.com" in target.read_text()


def test_json_on_stdout_with_a_csv_format_is_refused(runner):
    result = runner.invoke(args=["lms", "users", "export", "--format", "csv", "--json"])

    assert result.exit_code == 1
    assert "--output" in json.loads(result.stdout)["error"]
