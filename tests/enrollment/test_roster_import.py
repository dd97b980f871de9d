"""Importing a roster (DESIGN §4) through the service and `lms import`: modes, strict, dry run,
groups by id and by name, the cascade into sessions, and what HR is told."""
import json
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash

from lms.accounts.models import Role, User, UserStatus
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.rosters import importer, jobs
from lms.enrollment.rosters.importer import defaults_for, plan_import, run_import
from lms.enrollment.rosters.models import ImportJob, ImportJobStatus
from lms.enrollment.rosters.parser import parse_text
from lms.extensions import db
from lms.notifications.models import OutboxEmail
from lms.programs.cascade import assign_group
from lms.programs.models import Enrollment, EnrollmentStatus

EXAMPLE = "Smith, James, james.smith@example.com, France | North, 1, apozeiru, en, Professional Photographer"


def roster(text):
    return parse_text(text, languages=["en", "fr", "nl"])


def user(email):
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def groups_of(person):
    from lms.enrollment.groups.services import group_names_by_user

    return sorted(group_names_by_user([person.id]).get(person.id, []))


def emails_to(address):
    return db.session.scalars(select(OutboxEmail.kind).where(OutboxEmail.recipient == address)
                              .order_by(OutboxEmail.id)).all()


def test_the_design_example_creates_an_active_account_with_its_labels_and_an_account_email(app, now):
    report = run_import(roster(EXAMPLE), actor=None, now=now)
    db.session.commit()

    assert (report.created, report.errors) == (1, [])
    james = user("james.smith@example.com")
    assert (james.first_name, james.last_name, james.language, james.role) == ("James", "Smith", "en", Role.learner)
    assert james.status == UserStatus.active and check_password_hash(james.password_hash, "apozeiru")
    assert james.labels == ["France", "North"] and james.additional_info == "Professional Photographer"
    assert emails_to("james.smith@example.com") == ["account_created"]


def test_a_row_without_password_invites_the_person_to_choose_one(app, now):
    run_import(roster("Doe, Jane, jane@example.com, , 1, , fr"), actor=None, now=now)
    db.session.commit()

    jane = user("jane@example.com")
    assert jane.status == UserStatus.invited and jane.password_hash is None
    invitation = db.session.scalar(select(Invitation).where(Invitation.user_id == jane.id))
    assert invitation.status == InvitationStatus.pending and invitation.language == "fr"
    assert emails_to("jane@example.com") == ["invitation"]


def test_send_email_0_creates_the_account_without_any_email(app, now):
    run_import(roster("Doe, Jane, jane@example.com, , 0\nRoe, Rick, rick@example.com, , no, secret-pass"),
               actor=None, now=now)
    db.session.commit()

    assert user("jane@example.com").status == UserStatus.invited
    assert user("rick@example.com").status == UserStatus.active
    assert emails_to("jane@example.com") == [] and emails_to("rick@example.com") == []


def test_groups_by_public_id_and_by_exact_name_enroll_people_in_the_groups_sessions(
        app, make_group, make_session, now):
    sales, paris = make_group("Sales"), make_group("Paris Office")
    future = make_session(starts_at=now + timedelta(days=10), name="Onboarding")
    assign_group(future, paris, actor=None, now=now)
    db.session.commit()

    report = run_import(roster(f"email,groups\nann@example.com,{sales.public_id} | Paris Office\n"
                               f"bob@example.com,{sales.public_id.lower()}"), actor=None, now=now)
    db.session.commit()

    assert report.created == 2 and report.errors == []
    assert groups_of(user("ann@example.com")) == ["Paris Office", "Sales"]
    assert groups_of(user("bob@example.com")) == ["Sales"]
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.user_id == user("ann@example.com").id))
    assert enrollment.session_id == future.id and enrollment.status == EnrollmentStatus.invited
    # R4: the platform invitation now, the session's at its start
    due = dict(db.session.execute(select(OutboxEmail.kind, OutboxEmail.due_at)
                                  .where(OutboxEmail.recipient == "ann@example.com")).all())
    assert due == {"invitation": now, "session_invitation": future.starts_at}


def test_an_unknown_group_or_a_past_deactivation_date_rejects_the_row_and_names_the_column(app, make_group, now):
    make_group("Sales")
    report = run_import(roster("email,groups,deactivate_on\n"
                               "ok@example.com,Sales,\n"
                               "nogroup@example.com,Sales | Marketing,\n"
                               f"past@example.com,,{(now - timedelta(days=1)).date().isoformat()}"),
                        actor=None, now=now)
    db.session.commit()

    assert report.created == 1
    assert [(error.line, error.column) for error in report.errors] == [(3, "groups"), (4, "deactivate_on")]
    assert "Marketing" in report.errors[0].message
    assert user("nogroup@example.com") is None and user("past@example.com") is None


def test_create_mode_skips_existing_users_and_counts_them(app, make_user, now):
    make_user("known@example.com", first_name="Kim")
    report = run_import(roster("Other, Name, KNOWN@example.com\nNew, Person, new@example.com"), actor=None, now=now)
    db.session.commit()

    assert (report.created, report.skipped, report.updated) == (1, 1, 0)
    assert user("known@example.com").first_name == "Kim"


def test_update_mode_overrides_with_the_files_values_and_adds_the_groups(app, make_user, make_group, now):
    kim = make_user("kim@example.com", first_name="Kim", last_name="Old", language="en")
    make_group("Sales")
    report = run_import(roster("email,last_name,language,labels,groups,role\n"
                               "kim@example.com,New,fr,VIP | North,Sales,manager"),
                        actor=None, now=now, mode="update")
    db.session.commit()

    assert (report.updated, report.created) == (1, 0)
    kim = user("kim@example.com")
    assert (kim.first_name, kim.last_name, kim.language, kim.role) == ("Kim", "New", "fr", Role.manager)
    assert kim.labels == ["North", "VIP"] and groups_of(kim) == ["Sales"]


def test_fill_mode_sets_only_the_fields_that_were_empty(app, make_user, now):
    make_user("kim@example.com", first_name="Kim", last_name="", additional_info="")
    report = run_import(roster("email,first_name,last_name,additional_info\n"
                               "kim@example.com,Kimberly,Stone,Photographer"), actor=None, now=now, mode="fill")
    db.session.commit()

    kim = user("kim@example.com")
    assert report.updated == 1
    assert (kim.first_name, kim.last_name, kim.additional_info) == ("Kim", "Stone", "Photographer")


def test_a_row_that_changes_nothing_is_unchanged(app, make_user, now):
    make_user("kim@example.com", first_name="Kim", last_name="Stone")
    report = run_import(roster("Stone, Kim, kim@example.com"), actor=None, now=now, mode="update")

    assert (report.unchanged, report.updated) == (1, 0)


def test_strict_writes_nothing_when_one_row_is_invalid(app, now):
    report = run_import(roster("A, B, good@example.com\nC, D, not-an-email"), actor=None, now=now, strict=True)
    db.session.commit()

    assert report.created == 0 and [error.line for error in report.errors] == [2]
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_without_strict_valid_rows_are_imported_and_invalid_ones_reported(app, now):
    report = run_import(roster("A, B, good@example.com\nC, D, not-an-email"), actor=None, now=now)
    db.session.commit()

    assert report.created == 1 and [error.line for error in report.errors] == [2]
    assert user("good@example.com") is not None


def test_a_dry_run_reports_what_would_happen_and_writes_nothing(app, make_user, now):
    make_user("known@example.com")
    report = run_import(roster("A, B, new@example.com\nC, D, known@example.com\nE, F, bad"),
                        actor=None, now=now, dry_run=True)
    db.session.rollback()

    assert report.as_dict() == {"dry_run": True, "total_rows": 3, "created": 1, "updated": 0, "unchanged": 0,
                                "skipped": 1, "errors": [report.errors[0].as_dict()], "warnings": []}
    assert report.errors[0].line == 3 and report.errors[0].column == "email"
    assert user("new@example.com") is None
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


def test_the_preview_plans_every_row_with_its_action(app, make_user, now):
    make_user("known@example.com", first_name="Kim")
    planned = plan_import(roster("email,first_name\nnew@example.com,N\nknown@example.com,Kimberly\n"
                                 "known@example.com,Again\nbad,X"), mode="update", now=now)

    assert [(row.line, row.action) for row in planned] == [(2, "create"), (3, "update"), (4, "error"), (5, "error")]
    assert planned[1].changes == {"first_name": "Kimberly"}


def test_the_import_forms_defaults_fill_what_a_row_leaves_empty(app, make_group, now):
    make_group("Newcomers")
    defaults = defaults_for(language="nl", role="manager", groups=["Newcomers"], deactivate_on=date(2030, 1, 1),
                            send_email=False)
    run_import(roster("A, B, one@example.com\nC, D, two@example.com, , , , fr, , , learner"),
               actor=None, now=now, defaults=defaults)
    db.session.commit()

    one, two = user("one@example.com"), user("two@example.com")
    assert (one.language, one.role, one.deactivate_on, groups_of(one)) == ("nl", Role.manager, date(2030, 1, 1),
                                                                            ["Newcomers"])
    assert (two.language, two.role) == ("fr", Role.learner)
    assert emails_to("one@example.com") == []


def test_lms_import_prints_the_report_and_exits_2_when_rows_are_rejected(app, tmp_path, now):
    path = tmp_path / "roster.csv"
    path.write_text(EXAMPLE + "\nC, D, not-an-email\n", encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["lms", "import", str(path), "--json"])

    assert result.exit_code == 2, result.output
    report = json.loads(result.output)
    assert report == {"dry_run": False, "total_rows": 2, "created": 1, "updated": 0, "unchanged": 0, "skipped": 0,
                      "errors": [{"line": 2, "column": "email",
                                  "message": report["errors"][0]["message"]}], "warnings": []}
    assert "not-an-email" in report["errors"][0]["message"]
    assert user("james.smith@example.com").labels == ["France", "North"]


def test_lms_import_reads_standard_input_and_a_dry_run_writes_nothing(app):
    result = app.test_cli_runner().invoke(args=["lms", "import", "-", "--dry-run", "--json"],
                                          input="A, B, stdin@example.com\n")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["created"] == 1
    assert user("stdin@example.com") is None


def test_lms_import_of_a_file_that_is_not_a_roster_exits_1_with_a_message(app, tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

    result = app.test_cli_runner().invoke(args=["lms", "import", str(path), "--json"])

    assert result.exit_code == 1
    assert json.loads(result.output) == {"error": f"{path} is not a text or CSV roster."}


def test_lms_import_records_its_job_with_every_error_in_its_report(app, tmp_path, monkeypatch):
    """The job keeps the first MAX_REPORTED_ERRORS errors for the page; the command prints them all."""
    monkeypatch.setattr(jobs, "MAX_REPORTED_ERRORS", 1)
    path = tmp_path / "roster.csv"
    path.write_text(EXAMPLE + "\nC, D, not-an-email\nE, F, neither\n", encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["lms", "import", str(path), "--json"])

    assert result.exit_code == 2, result.output
    assert [error["line"] for error in json.loads(result.output)["errors"]] == [2, 3]
    (job,) = db.session.scalars(select(ImportJob)).all()
    assert (job.status, job.from_command_line, job.source, job.filename) == (
        ImportJobStatus.finished, True, "csv", str(path))
    assert (job.rows_total, job.created_count, job.rejected_count, job.locked_by) == (3, 1, 2, None)
    assert [error["line"] for error in job.errors] == [2]


def test_lms_import_dry_run_and_an_empty_roster_record_no_job(app, tmp_path):
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["lms", "import", "-", "--dry-run", "--json"], input="A, B, dry@example.com\n")
    empty = runner.invoke(args=["lms", "import", "-", "--json"], input="email\n# nobody yet\n")

    assert dry.exit_code == 0 and json.loads(dry.output)["dry_run"] is True
    assert empty.exit_code == 1
    assert json.loads(empty.output) == {
        "error": "The standard input has no rows to import (only a header, blank or comment lines)."}
    assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_lms_import_tells_people_where_its_report_is(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["lms", "import", "-"], input="A, B, someone@example.com\n")

    assert result.exit_code == 0, result.output
    job_id = db.session.scalar(select(ImportJob.id))
    assert result.output.splitlines()[-1] == (
        f"Report, under Past imports: {app.config['BASE_URL']}/admin/imports/{job_id}")


def test_a_password_given_to_an_invited_account_sets_it_up_so_the_person_can_sign_in(app, client, now):
    """Issue 16, line 6: fill/update stored the password but left the account invited, its
    invitation pending, and the person unable to sign in."""
    from lms.enrollment.invitations.services import invite_people

    invite_people(["kate@example.com", "lou@example.com"], actor=None, now=now)
    db.session.commit()

    report = run_import(roster("email,password,send_email\nkate@example.com,a-long-password,1\n"
                               "lou@example.com,another-password,0"), actor=None, now=now, mode="fill")
    db.session.commit()

    assert report.updated == 2
    kate = user("kate@example.com")
    assert kate.status == UserStatus.active and check_password_hash(kate.password_hash, "a-long-password")
    invitation = db.session.scalar(select(Invitation).where(Invitation.user_id == kate.id))
    assert invitation.status == InvitationStatus.accepted  # its link now says it was used
    sent = dict(db.session.execute(select(OutboxEmail.kind, OutboxEmail.status)
                                   .where(OutboxEmail.recipient == "kate@example.com")).all())
    assert sent["invitation"].value == "cancelled" and sent["account_created"].value == "queued"
    assert emails_to("lou@example.com") == ["invitation"]  # send_email=0: told nothing more
    response = client.post("/login", data={"email": "kate@example.com", "password": "a-long-password"})
    assert response.status_code == 303


def test_update_mode_cli_sets_up_an_invited_account_too(app, runner, tmp_path, now):
    from lms.enrollment.invitations.services import invite_people

    invite_people(["kate@example.com"], actor=None, now=now)
    db.session.commit()
    path = tmp_path / "roster.csv"
    path.write_text("email,password\nkate@example.com,a-long-password\n")

    result = runner.invoke(args=["lms", "import", str(path), "--mode", "update"])

    assert result.exit_code == 0, result.output
    assert user("kate@example.com").status == UserStatus.active


def test_a_command_line_import_that_stops_exits_1_with_why_and_is_listed_as_failed(app, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise IntegrityError("INSERT INTO users ...", {}, Exception("UNIQUE"))

    monkeypatch.setattr(importer, "_write", refuse)
    path = tmp_path / "roster.csv"
    path.write_text(EXAMPLE + "\n", encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["lms", "import", str(path), "--json"])

    assert result.exit_code == 1
    message = json.loads(result.output)["error"]
    assert message.startswith("The import stopped because the database refused a change") and "INSERT" not in message
    db.session.expire_all()
    (job,) = db.session.scalars(select(ImportJob)).all()
    assert (job.status, job.failure_message, job.from_command_line) == (ImportJobStatus.failed, message, True)
