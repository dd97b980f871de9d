"""Temporary passwords from a roster (issue 18): a password cell `*generate*`, or the import's
option for new accounts without a password, gives the person a generated password by email; it
signs in once, the person must choose their own, and nothing but its email ever holds it readable
(not the outbox row while it waits, not the job, not the audit trail, not the logs). Then the
`must_change_password` column (Moodle's `forcepasswordchange`), and `update` mode giving an
existing account a new temporary password."""
import json
import logging
import re

from sqlalchemy import select
from werkzeug.security import check_password_hash

from lms.accounts.models import UserStatus
from lms.audit.models import AuditEvent
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import invite_people
from lms.enrollment.rosters.jobs import create_import_job, run_import_job
from lms.extensions import db
from lms.notifications.dispatcher import dispatch_due_emails
from lms.notifications.models import OutboxEmail, OutboxStatus
from tests.conftest import PASSWORD, count, database_dump, signs_in, user_of
from tests.enrollment.test_import_views import (
    csv_records,
    draft_of,
    imported,
    is_checked,
    job_of,
    preview,
    preview_rows,
    previewed,
    start,
)
from tests.pages import field_error, text, utcnow, visible

TEMPORARY = re.compile(r"Your password is: (\S+)")




EVERYWHERE = ("outbox_emails", "audit_events", "import_jobs", "import_job_rows", "users")


def send_emails(now):
    """What the scheduler does: every email due by now (the jobs' clock or the real one) goes."""
    dispatch_due_emails(now=max(now, utcnow()))


def password_sent_to(smtp_server, address):
    (message,) = smtp_server.to(address)
    body = message.get_body(("plain",)).get_content()
    return TEMPORARY.search(body).group(1), body




def import_cli(runner, tmp_path, roster, *args):
    path = tmp_path / "roster.csv"
    path.write_text(roster, encoding="utf-8")
    result = runner.invoke(args=["lms", "import", str(path), "--json", *args])
    assert "Traceback" not in result.output, result.output
    return result, json.loads(result.stdout)


def queue_job(roster, now, **options):
    job = create_import_job(roster.encode(), source="paste", actor=None, now=now, **options)
    db.session.commit()
    return job.id


# --- *generate* in a row --------------------------------------------------------------------


def test_a_generated_password_reaches_the_person_only_signs_in_and_must_be_changed(
        app, admin_client, smtp_server, now, caplog):
    caplog.set_level(logging.DEBUG)
    job_id, page = previewed(admin_client, "email,first_name,last_name,password\ntia@example.com,Tia,Temp,*Generate*")
    assert [(row["action"], row["password"]) for row in preview_rows(page)] == [("Create", "generated")]

    imported(admin_client, job_id, now)

    tia = user_of("tia@example.com")
    assert tia.status == UserStatus.active and tia.must_change_password is True
    assert db.session.scalar(select(Invitation.id).where(Invitation.user_id == tia.id)) is None  # no invitation
    waiting = database_dump(*EVERYWHERE)
    (email,) = db.session.scalars(select(OutboxEmail).where(OutboxEmail.recipient == "tia@example.com")).all()
    assert email.kind == "account_created" and "sealed_password" in email.context

    send_emails(now)

    temporary, body = password_sent_to(smtp_server, "tia@example.com")
    assert len(temporary) >= 16
    assert "This password is temporary: you will choose your own when you first sign in." in body
    assert temporary not in waiting  # sealed while it waited; no copy in the job, its people or the audit trail
    assert "sealed_password" not in database_dump("outbox_emails")  # and, sent, the row forgot even that
    assert temporary not in database_dump(*EVERYWHERE)
    assert tia.password_hash not in database_dump("audit_events", "import_jobs", "import_job_rows", "outbox_emails")
    job = job_of(job_id)
    for kept in (job.options, job.preview, job.errors):
        assert temporary not in json.dumps(kept) and tia.password_hash not in json.dumps(kept)
    app_logs = "\n".join(record.getMessage() for record in caplog.records
                         if not record.name.startswith("mail.log"))  # not the test's own SMTP server
    assert temporary not in app_logs

    tia_browser = app.test_client()  # she signs in with it, and is made to choose her own
    assert tia_browser.post("/login", data={"email": "tia@example.com", "password": temporary}).status_code == 303
    assert tia_browser.get("/").headers["Location"].startswith("/account/new-password")
    chosen = tia_browser.post("/account/new-password", data={"password": "tias-own-secret", "confirm": "tias-own-secret"})
    assert chosen.status_code == 303 and tia_browser.get("/").status_code == 200
    assert not signs_in(app, "tia@example.com", temporary)


def test_the_audit_trail_says_a_password_was_generated_by_which_import_and_never_holds_it(
        app, admin_client, smtp_server, now):
    job_id, _ = previewed(admin_client, "email,password\numa@example.com,*generate*")
    imported(admin_client, job_id, now)
    send_emails(now)
    temporary, _ = password_sent_to(smtp_server, "uma@example.com")
    uma = user_of("uma@example.com")

    events = {event.action: event for event in db.session.scalars(select(AuditEvent))}
    assert events["roster.imported"].details["job_id"] == job_id
    assert events["user.password_set"].user_id == uma.id
    assert events["user.password_set"].details == {"generated": True, "emailed": True, "must_change": True,
                                                   "job_id": job_id}
    assert temporary not in database_dump("audit_events") and uma.password_hash not in database_dump("audit_events")


def test_every_generated_password_is_its_own(app, smtp_server, now):
    roster = "email,password\n" + "\n".join(f"p{number}@example.com,*GENERATE*" for number in range(3))
    run_import_job(queue_job(roster, now), now=now)
    send_emails(now)

    passwords = {TEMPORARY.search(message.get_body(("plain",)).get_content()).group(1)
                 for message in smtp_server.messages}
    assert len(passwords) == 3
    for number, password in enumerate(sorted(passwords)):
        assert sum(check_password_hash(user_of(f"p{n}@example.com").password_hash, password) for n in range(3)) == 1


def test_generate_with_send_email_0_is_rejected_on_its_line_saying_why(admin_client, now):
    job_id, page = previewed(admin_client, "email,send_email,password\nok@example.com,1,*generate*\n"
                                           "nobody@example.com,0,*generate*")

    rows = preview_rows(page)
    assert [(row["line"], row["action"]) for row in rows] == [(2, "Create"), (3, "Error")]
    assert rows[1]["notes"]["send_email"] == [
        "send_email is 0, but the password is *generate*. A generated password reaches the person only by email, "
        "so this row must send it: set send_email to 1 (or leave it empty), or type a password."]
    assert rows[1]["password"] == "generated"  # what the cell asked, never a password

    imported(admin_client, job_id, now)
    assert user_of("nobody@example.com") is None and user_of("ok@example.com") is not None
    assert [(error["line"], error["column"]) for error in job_of(job_id).errors] == [(3, "send_email")]


def test_generate_with_send_email_0_is_rejected_by_the_command_line_too(runner, tmp_path):
    result, printed = import_cli(runner, tmp_path, "email,send_email,password\nnobody@example.com,no,*generate*")

    assert result.exit_code == 2
    assert [(error["line"], error["column"]) for error in printed["errors"]] == [(2, "send_email")]
    assert "A generated password reaches the person only by email" in printed["errors"][0]["message"]
    assert user_of("nobody@example.com") is None


def test_the_email_of_a_generated_password_goes_even_when_the_form_sends_none(admin_client, smtp_server, now):
    job_id, _ = previewed(admin_client, "email,password\nquiet@example.com,*generate*\nnone@example.com,",
                          send_email=None)
    imported(admin_client, job_id, now)
    send_emails(now)

    temporary, _ = password_sent_to(smtp_server, "quiet@example.com")
    assert signs_in(admin_client.application, "quiet@example.com", temporary)
    assert smtp_server.to("none@example.com") == []  # the form's "no email" holds for the others
    assert user_of("none@example.com").status == UserStatus.invited


def test_generate_with_must_change_password_0_is_rejected(admin_client):
    _, page = previewed(admin_client, "email,password,must_change_password\nno@example.com,*generate*,0")

    (row,) = preview_rows(page)
    assert row["action"] == "Error"
    assert row["notes"]["must_change_password"] == [
        "must_change_password is 0, but a generated password is temporary: the person chooses their own at the "
        "first sign-in. Leave must_change_password empty (or 1), or type a password."]


def test_the_rejected_rows_csv_keeps_generate_but_no_password(admin_client, now):
    job_id, _ = previewed(admin_client, "email,password,language\nbad@example.com,*generate*,klingon\n"
                                        "worse@example.com,typed-secret-1,klingon\ngood@example.com,,en")
    imported(admin_client, job_id, now)

    csv_text = text(admin_client.get(f"/admin/imports/{job_id}/rejected.csv"))
    assert csv_records(csv_text)[1:] == [["bad@example.com", "*generate*", "klingon"],
                                         ["worse@example.com", "", "klingon"]]
    assert "typed-secret-1" not in csv_text


def test_a_dry_run_generates_nothing_and_queues_nothing(runner, tmp_path):
    result, printed = import_cli(runner, tmp_path, "email,password\ndry@example.com,*generate*", "--dry-run")

    assert result.exit_code == 0 and printed["created"] == 1
    assert user_of("dry@example.com") is None and count(OutboxEmail) == 0 and count(AuditEvent) == 0


# --- the import's option: everyone without a password -------------------------------------


ROSTER = ("email,password,send_email\n"
          "typed@example.com,typed-secret-1,\n"
          "empty@example.com,,\n"
          "silent@example.com,,0\n"
          "known@example.com,,\n")


def test_generate_passwords_on_the_command_line_applies_to_new_accounts_without_a_password_only(
        app, runner, tmp_path, make_user, smtp_server):
    known = make_user("known@example.com")

    result, printed = import_cli(runner, tmp_path, ROSTER, "--generate-passwords")

    assert result.exit_code == 0, result.output
    assert (printed["created"], printed["skipped"]) == (3, 1)
    typed, empty, silent = (user_of(f"{name}@example.com") for name in ("typed", "empty", "silent"))
    assert (typed.status, typed.must_change_password) == (UserStatus.active, False)
    assert (empty.status, empty.must_change_password) == (UserStatus.active, True)
    assert (silent.status, silent.must_change_password) == (UserStatus.invited, False)  # send_email 0: invited quietly
    assert user_of("known@example.com").password_hash == known.password_hash  # existing accounts are left alone

    send_emails(utcnow())
    temporary, _ = password_sent_to(smtp_server, "empty@example.com")
    assert signs_in(app, "empty@example.com", temporary)
    (ready,) = smtp_server.to("typed@example.com")
    assert TEMPORARY.search(ready.get_body(("plain",)).get_content()) is None  # a typed password is never emailed
    assert smtp_server.to("silent@example.com") == [] and smtp_server.to("known@example.com") == []


def test_without_the_option_a_row_without_a_password_is_invited_as_before(runner, tmp_path):
    result, _ = import_cli(runner, tmp_path, ROSTER)

    assert result.exit_code == 0
    assert user_of("empty@example.com").status == UserStatus.invited
    assert user_of("empty@example.com").must_change_password is False


def test_the_forms_option_gives_generated_passwords_and_the_preview_says_so(admin_client, make_user, now):
    make_user("known@example.com")
    job_id, page = previewed(admin_client, ROSTER, generate_passwords="y")

    assert {row["email"]: row["password"] for row in preview_rows(page)} == {
        "typed@example.com": "••••••", "empty@example.com": "generated", "silent@example.com": "",
        "known@example.com": ""}
    imported(admin_client, job_id, now)

    assert user_of("empty@example.com").must_change_password is True
    assert user_of("silent@example.com").status == UserStatus.invited
    assert job_of(job_id).options["defaults"]["generate_passwords"] is True


def test_the_forms_option_is_kept_when_the_preview_is_edited(admin_client):
    job_id = draft_of(preview(admin_client, "a@example.com", generate_passwords="y"))

    page = text(admin_client.get(f"/admin/imports/new?from={job_id}"))
    assert is_checked(page, "generate_passwords")
    assert "Give everyone without a password a generated temporary password by email" in visible(page)


def test_the_forms_option_without_emails_is_refused(admin_client):
    response = preview(admin_client, "a@example.com", generate_passwords="y", send_email=None)

    assert response.status_code == 422
    assert field_error(text(response), "generate_passwords") == (
        "A generated password reaches people only by email: tick Send emails too, or untick this.")
    assert count(OutboxEmail) == 0


def test_the_option_and_must_change_password_0_on_a_row_without_a_password_is_rejected(admin_client):
    _, page = previewed(admin_client, "email,must_change_password\nzero@example.com,0\none@example.com,1",
                        generate_passwords="y")

    rows = preview_rows(page)
    assert [row["action"] for row in rows] == ["Error", "Create"]
    assert "which is temporary" in rows[0]["notes"]["must_change_password"][0]


# --- the must_change_password column -----------------------------------------------------


def test_must_change_password_sets_the_flag_on_new_accounts_and_the_email_says_so(app, smtp_server, now):
    run_import_job(queue_job("email,password,must_change_password\n"
                             "asked@example.com,typed-secret-1,yes\nfree@example.com,typed-secret-2,0", now), now=now)

    assert user_of("asked@example.com").must_change_password is True
    assert user_of("free@example.com").must_change_password is False
    (context,) = db.session.scalars(select(OutboxEmail.context).where(OutboxEmail.recipient == "asked@example.com"))
    assert context["must_change"] is True


def test_moodles_forcepasswordchange_column_is_must_change_password(app, runner, tmp_path):
    moodle = ("username,firstname,lastname,email,password,forcepasswordchange\n"
              "ojohnson,Olivia,Johnson,olivia@example.edu,Cohort-pass-1,1\n"
              "nwilliams,Noah,Williams,noah@example.edu,Cohort-pass-2,0\n")

    result, printed = import_cli(runner, tmp_path, moodle)

    assert result.exit_code == 0 and printed["created"] == 2
    assert user_of("olivia@example.edu").must_change_password is True
    assert user_of("noah@example.edu").must_change_password is False
    assert not any("forcepasswordchange" in warning for warning in printed["warnings"])


def test_update_mode_sets_and_clears_the_flag_and_counts_it_as_an_update(app, make_user, now):
    make_user("set@example.com")
    make_user("clear@example.com", must_change_password=True)
    make_user("same@example.com", must_change_password=True)

    job_id = queue_job("email,must_change_password\nset@example.com,TRUE\nclear@example.com,non\n"
                       "same@example.com,ja", now, mode="update")
    run_import_job(job_id, now=now)

    job = job_of(job_id)
    assert (job.updated_count, job.unchanged_count) == (2, 1)
    assert user_of("set@example.com").must_change_password is True
    assert user_of("clear@example.com").must_change_password is False
    assert user_of("same@example.com").must_change_password is True


def test_fill_mode_sets_the_flag_only_with_a_password_it_fills_in(app, make_user, now):
    make_user("has@example.com")  # has a password: fill leaves its password and its flag alone
    invite_people(["invited@example.com"], actor=None, now=now)
    db.session.commit()

    job_id = queue_job("email,password,must_change_password\nhas@example.com,other-secret-1,1\n"
                       "invited@example.com,their-secret-1,1", now, mode="fill")
    run_import_job(job_id, now=now)

    assert (job_of(job_id).updated_count, job_of(job_id).unchanged_count) == (1, 1)
    assert user_of("has@example.com").must_change_password is False
    invited = user_of("invited@example.com")
    assert invited.must_change_password is True and invited.status == UserStatus.active


def test_a_bad_must_change_password_value_is_an_error_naming_the_column(admin_client):
    _, page = previewed(admin_client, "email,must_change_password\nmaybe@example.com,maybe")

    (row,) = preview_rows(page)
    assert row["action"] == "Error" and row["notes"]["must_change_password"] == [
        "'maybe' is not 1 or 0 (also true/false, yes/no)."]


# --- update mode: a new temporary password for an existing account -----------------------


def test_update_mode_gives_an_existing_account_a_new_temporary_password_by_email(app, make_user, smtp_server, now):
    kim = make_user("kim@example.com", first_name="Kim")

    job_id = queue_job("email,password\nkim@example.com,*generate*", now, mode="update")
    run_import_job(job_id, now=now)
    send_emails(now)

    assert job_of(job_id).updated_count == 1
    temporary, body = password_sent_to(smtp_server, "kim@example.com")
    assert "This password is temporary" in body
    assert user_of("kim@example.com").must_change_password is True
    assert signs_in(app, "kim@example.com", temporary) and not signs_in(app, kim.email, PASSWORD)
    (email,) = db.session.scalars(select(OutboxEmail).where(OutboxEmail.recipient == "kim@example.com"))
    assert email.status == OutboxStatus.sent and email.context.get("password_renewed") is True
    assert "sealed_password" not in email.context


def test_a_second_update_gives_a_second_new_password_and_a_second_email(app, make_user, smtp_server, now):
    make_user("kim@example.com")

    for _ in range(2):
        run_import_job(queue_job("email,password\nkim@example.com,*generate*", now, mode="update"), now=now)
        send_emails(now)

    first, second = (TEMPORARY.search(message.get_body(("plain",)).get_content()).group(1)
                     for message in smtp_server.to("kim@example.com"))
    assert first != second
    assert signs_in(app, "kim@example.com", second) and not signs_in(app, "kim@example.com", first)


def test_update_mode_sets_up_an_invited_account_with_a_generated_password(app, smtp_server, now):
    invite_people(["ivy@example.com"], actor=None, now=now)
    db.session.commit()

    run_import_job(queue_job("email,password\nivy@example.com,*generate*", now, mode="update"), now=now)

    ivy = user_of("ivy@example.com")
    assert (ivy.status, ivy.must_change_password) == (UserStatus.active, True)
    assert db.session.scalar(select(Invitation.status).where(Invitation.user_id == ivy.id)) == InvitationStatus.accepted
    send_emails(now)
    temporary, _ = password_sent_to(smtp_server, "ivy@example.com")  # one email: the invitation was withdrawn
    assert signs_in(app, "ivy@example.com", temporary)


def test_update_mode_refuses_to_generate_a_password_for_a_deactivated_account(app, make_user, now):
    make_user("gone@example.com", status=UserStatus.deactivated)

    job_id = queue_job("email,password\ngone@example.com,*generate*", now, mode="update")
    run_import_job(job_id, now=now)

    (error,) = job_of(job_id).errors
    assert error["column"] == "password" and "deactivated" in error["message"]
    assert count(OutboxEmail) == 0 and user_of("gone@example.com").must_change_password is False


def test_create_mode_skips_an_existing_account_even_with_generate(app, make_user, now):
    known = make_user("known@example.com")

    job_id = queue_job("email,password\nknown@example.com,*generate*", now)
    run_import_job(job_id, now=now)

    assert job_of(job_id).skipped_count == 1
    assert user_of("known@example.com").password_hash == known.password_hash and count(OutboxEmail) == 0


def test_the_page_press_import_runs_generated_passwords_through_the_hashing_of_the_batch(admin_client, monkeypatch, now):
    from lms.enrollment.rosters import importer

    hashed = []
    original = importer.hash_passwords

    def watched(passwords):
        passwords = list(passwords)
        hashed.append(len(passwords))
        return original(passwords)

    monkeypatch.setattr(importer, "hash_passwords", watched)
    job_id, _ = previewed(admin_client, "email,password\na@example.com,*generate*\nb@example.com,typed-secret-1")
    assert start(admin_client, job_id).status_code == 303
    run_import_job(job_id, now=now)

    assert hashed == [2]  # one call for the batch: typed and generated together


def test_the_xlsx_templates_instructions_explain_generate_and_must_change_password(admin_client):
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(admin_client.get("/admin/imports/template.xlsx").data))
    notes = {row[0]: row[2] for row in book["Instructions"].iter_rows(values_only=True) if row and row[0] and len(row) > 2}

    assert "*generate*" in notes["password"] and "Give everyone without a password" in notes["password"]
    assert "forcepasswordchange" in notes["must_change_password"]
    assert [cell.value for cell in book["Accounts"][1]][-1] == "deactivate_on"  # the columns stay the template's
