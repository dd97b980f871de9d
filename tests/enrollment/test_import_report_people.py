"""The import report lists the people (issue 18): one row per roster line that named a person
(created, updated, unchanged, skipped; rejected lines stay in the errors), written with its batch
so a resumed job lists each line once and a dry run lists none; the job page shows them in tabs
with their counts, 50 a page, searchable by email, each linked to their account, and htmx gets
the section alone."""
import re

import pytest
from sqlalchemy import event, func, select

from lms.accounts.models import User
from lms.due_work import run_due
from lms.enrollment.rosters import importer as roster_import
from lms.enrollment.rosters.jobs import create_import_job, run_import_job
from lms.enrollment.rosters.models import ImportJobRow, ImportRowOutcome
from lms.extensions import db
from tests.conftest import Clock, count, ended_process_id, htmx_headers, user_of, worker_at
from tests.enrollment.test_import_jobs import Crash, crash_in_batch, roster_of
from tests.enrollment.test_import_views import draft_of, imported, preview, previewed
from tests.pages import text, visible


def queue(roster, now, **options):
    job = create_import_job(roster.encode(), source="paste", actor=None, now=now, **options)
    db.session.commit()
    return job.id


def people_rows(job_id):
    """(line, outcome, email, user id) of what the job recorded, by line."""
    db.session.expire_all()
    return [tuple(row) for row in db.session.execute(
        select(ImportJobRow.line, ImportJobRow.outcome, ImportJobRow.email, ImportJobRow.user_id)
        .where(ImportJobRow.job_id == job_id).order_by(ImportJobRow.line))]


def people_section(html):
    match = re.search(r'<section id="import-people"[^>]*>(.*?)</section>', html, re.S)
    assert match is not None, "no People section"
    return match.group(1)


def tabs(html):
    """{tab label: count} of the People section, and the current tab."""
    section = people_section(html) if "<section" in html else html
    found = re.findall(r'<a href="([^"]*)"[^>]*?(aria-current="page")?>(\w+) \(([\d,]+)\)</a>',
                       section.split("</nav>")[0])
    current = [label for _, is_current, label, _ in found if is_current]
    return {label: int(number.replace(",", "")) for _, _, label, number in found}, current


def listed(html):
    """The people listed: (line, email, link or None, name, outcome)."""
    section = people_section(html) if "<section" in html else html
    table = re.search(r'<table class="stack import-people">(.*?)</table>', section, re.S)
    if table is None:
        return []
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(1).split("<tbody>")[1], re.S):
        cells = dict(re.findall(r'<td data-label="(\w+)">(.*?)</td>', row, re.S))
        link = re.search(r'href="([^"]*)"', cells["Email"])
        rows.append((int(cells["Line"]), visible(re.sub(r"<small>.*?</small>", "", cells["Email"])),
                     link.group(1) if link else None, visible(cells["Name"]), visible(cells["Outcome"])))
    return rows


def page_of(client, job_id, **args):
    query = "&".join(f"{key}={value}" for key, value in args.items())
    return text(client.get(f"/admin/imports/{job_id}" + (f"?{query}" if query else "")))


# --- what the import records -----------------------------------------------------------------


def test_each_line_naming_a_person_is_recorded_with_its_outcome_and_rejected_lines_are_not(
        app, make_user, now):
    kim = make_user("kim@example.com", first_name="Kim")
    lou = make_user("lou@example.com", first_name="Lou")
    job_id = queue("email,first_name\nnew@example.com,New\nkim@example.com,Kimberly\nlou@example.com,Lou\n"
                   "not-an-email,Bad", now, mode="update")

    run_import_job(job_id, now=now)

    new = user_of("new@example.com")
    assert people_rows(job_id) == [(2, ImportRowOutcome.created, "new@example.com", new.id),
                                   (3, ImportRowOutcome.updated, "kim@example.com", kim.id),
                                   (4, ImportRowOutcome.unchanged, "lou@example.com", lou.id)]


def test_create_mode_records_the_people_it_skipped(app, make_user, now):
    known = make_user("known@example.com")
    job_id = queue("email\nknown@example.com\nfresh@example.com", now)

    run_import_job(job_id, now=now)

    assert [(line, outcome, user_id) for line, outcome, _, user_id in people_rows(job_id)] == [
        (2, ImportRowOutcome.skipped, known.id), (3, ImportRowOutcome.created, user_of("fresh@example.com").id)]


def test_a_person_whose_email_the_import_changed_is_listed_under_the_new_one(app, make_user, now):
    jane = make_user("jane.old@example.com", external_id="E-1")
    job_id = queue("email,external_id\njane.new@example.com,E-1", now, mode="update")

    run_import_job(job_id, now=now)

    assert people_rows(job_id) == [(2, ImportRowOutcome.updated, "jane.new@example.com", jane.id)]


def test_a_job_killed_mid_import_and_resumed_lists_each_line_once(app, monkeypatch, now):
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    job_id = queue(roster_of(25), now)
    crash_in_batch(monkeypatch, 2)
    with pytest.raises(Crash):
        run_import_job(job_id, now=now, worker=worker_at(Clock(), pid=ended_process_id()))
    db.session.rollback()
    assert [line for line, *_ in people_rows(job_id)] == list(range(1, 11))  # the batch committed, no more

    monkeypatch.undo()
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    assert run_due(now=now)["imports_resumed"] == 1

    rows = people_rows(job_id)
    assert [line for line, *_ in rows] == list(range(1, 26))
    assert {outcome for _, outcome, _, _ in rows} == {ImportRowOutcome.created}  # not "skipped" on the way back
    assert count(ImportJobRow) == 25


def test_a_strict_job_that_stops_midway_records_no_one_until_it_is_run_again(app, monkeypatch, now):
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    job_id = queue(roster_of(25), now, strict=True)
    crash_in_batch(monkeypatch, 3)
    with pytest.raises(Crash):
        run_import_job(job_id, now=now, worker=worker_at(Clock(), pid=ended_process_id()))
    db.session.rollback()
    assert count(ImportJobRow) == 0 and count(User) == 0

    monkeypatch.undo()
    assert run_due(now=now)["imports_resumed"] == 1
    assert [line for line, *_ in people_rows(job_id)] == list(range(1, 26))


def test_a_job_the_database_stops_lists_only_the_people_of_its_committed_batches(app, monkeypatch, now):
    from sqlalchemy.exc import IntegrityError

    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    job_id = queue(roster_of(25), now)
    writes = roster_import._write

    def write(batch, *args, **kwargs):
        write.calls += 1
        if write.calls == 2:
            raise IntegrityError("INSERT", {}, Exception("UNIQUE"))
        return writes(batch, *args, **kwargs)

    write.calls = 0
    monkeypatch.setattr(roster_import, "_write", write)
    run_import_job(job_id, now=now)

    assert [line for line, *_ in people_rows(job_id)] == list(range(1, 11)) and count(User) == 10


def test_a_dry_run_and_a_preview_list_no_one(app, admin_client, runner, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("email\ndry@example.com\n", encoding="utf-8")
    result = runner.invoke(args=["lms", "import", str(path), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output

    draft_of(preview(admin_client, "previewed@example.com"))

    assert count(ImportJobRow) == 0 and user_of("dry@example.com") is None


def test_the_command_line_records_its_people_under_its_job(app, runner, tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("email\ncli@example.com\n", encoding="utf-8")
    result = runner.invoke(args=["lms", "import", str(path), "--json"])
    assert result.exit_code == 0, result.output

    (row,) = db.session.scalars(select(ImportJobRow)).all()
    assert (row.line, row.outcome, row.email) == (2, ImportRowOutcome.created, "cli@example.com")


def test_the_people_are_written_in_one_statement_per_batch(app, monkeypatch, now):
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    job_id = queue(roster_of(25), now)
    inserts = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("INSERT INTO IMPORT_JOB_ROWS", 'INSERT INTO "IMPORT_JOB_ROWS"',
                                                  "COPY \"IMPORT_JOB_ROWS\"")):
            inserts.append(statement)

    event.listen(db.engine, "before_cursor_execute", watch)
    try:
        run_import_job(job_id, now=now)
    finally:
        event.remove(db.engine, "before_cursor_execute", watch)

    assert count(ImportJobRow) == 25
    if db.engine.dialect.name == "sqlite":  # PostgreSQL copies them in (COPY runs beside the cursor's events)
        assert len(inserts) == 3


# --- the job page ----------------------------------------------------------------------------


def test_the_report_lists_the_people_by_outcome_with_counts_and_links_to_their_pages(
        admin_client, make_user, now):
    kim = make_user("kim@example.com", first_name="Kim", last_name="Stone")
    make_user("lou@example.com", first_name="Lou", last_name="Reed")
    job_id, _ = previewed(admin_client, "email,first_name,last_name\nnew@example.com,Nina,New\n"
                                        "kim@example.com,Kimberly,Stone\nlou@example.com,Lou,Reed\nbad,Bad,Row",
                          mode="update")
    page = imported(admin_client, job_id, now)

    counts, current = tabs(page)
    assert counts == {"All": 3, "Created": 1, "Updated": 1, "Unchanged": 1} and current == ["All"]  # no one skipped
    new = user_of("new@example.com")
    assert listed(page) == [
        (2, "new@example.com", f"/admin/users/{new.id}", "Nina New", "Created"),
        (3, "kim@example.com", f"/admin/users/{kim.id}", "Kimberly Stone", "Updated"),
        (4, "lou@example.com", f"/admin/users/{user_of('lou@example.com').id}", "Lou Reed", "Unchanged")]
    assert "bad" not in [email for _, email, *_ in listed(page)]  # rejected: under Rejected rows

    updated = page_of(admin_client, job_id, people="updated")
    assert [email for _, email, *_ in listed(updated)] == ["kim@example.com"] and tabs(updated)[1] == ["Updated"]
    assert admin_client.get(f"/admin/users/{kim.id}").status_code == 200


def test_the_skipped_tab_lists_the_people_who_already_had_an_account(admin_client, make_user, now):
    make_user("known@example.com")
    job_id, _ = previewed(admin_client, "email\nknown@example.com\nfresh@example.com")
    page = imported(admin_client, job_id, now)

    assert tabs(page)[0] == {"All": 2, "Created": 1, "Skipped": 1}
    skipped = page_of(admin_client, job_id, people="skipped")
    assert [(email, outcome) for _, email, _, _, outcome in listed(skipped)] == [
        ("known@example.com", "Skipped (already had an account)")]


def test_the_people_are_shown_50_a_page_with_pages_that_work_without_javascript(admin_client, now):
    job_id, _ = previewed(admin_client, "\n".join(f"Last{n}, First{n}, p{n:03d}@example.com" for n in range(120)))
    page = imported(admin_client, job_id, now)

    assert [line for line, *_ in listed(page)] == list(range(1, 51))
    assert "Page 1 of 3" in visible(people_section(page))
    next_link = re.search(r'<a href="([^"]*page=2[^"]*)"[^>]*>Next', people_section(page)).group(1)
    second = text(admin_client.get(next_link.replace("&amp;", "&")))
    assert "<html" in second and [line for line, *_ in listed(second)] == list(range(51, 101))
    last = page_of(admin_client, job_id, people="created", page=3)
    assert [line for line, *_ in listed(last)] == list(range(101, 121)) and "Page 3 of 3" in visible(last)
    beyond = page_of(admin_client, job_id, people="created", page=99)  # a hand-typed page: the last one
    assert [line for line, *_ in listed(beyond)] == list(range(101, 121))


def test_htmx_gets_the_people_section_alone(admin_client, now):
    job_id, _ = previewed(admin_client, "\n".join(f"L{n}, F{n}, p{n:03d}@example.com" for n in range(60)))
    imported(admin_client, job_id, now)

    response = admin_client.get(f"/admin/imports/{job_id}?people=created&page=2", headers=htmx_headers("import-people"))

    fragment = text(response)
    assert response.status_code == 200 and "<html" not in fragment and "Report" not in visible(fragment)
    assert fragment.lstrip().startswith('<h2 id="import-people-title">People</h2>')
    assert [line for line, *_ in listed(fragment)] == list(range(51, 61))
    assert 'hx-target="#import-people"' in fragment


def test_searching_by_email_keeps_the_tab_and_finds_part_of_an_address(admin_client, make_user, now):
    make_user("ann.known@example.com")
    job_id, _ = previewed(admin_client, "email\nann.known@example.com\nann.new@example.com\nbob@example.com\n"
                                        "an_n@example.com")
    imported(admin_client, job_id, now)

    found = page_of(admin_client, job_id, people="created", q="ANN")
    assert [email for _, email, *_ in listed(found)] == ["ann.new@example.com"]
    assert tabs(found)[1] == ["Created"] and 'value="ANN"' in found
    assert [email for _, email, *_ in listed(page_of(admin_client, job_id, q="n_n"))] == ["an_n@example.com"]
    assert [email for _, email, *_ in listed(page_of(admin_client, job_id, q="%"))] == []  # a wildcard is a character
    nobody = page_of(admin_client, job_id, q="zed")
    assert "No one here has an email holding “zed”." in visible(nobody)


def test_one_query_loads_a_page_of_people_with_their_names(admin_client, now):
    job_id, _ = previewed(admin_client, "\n".join(f"L{n}, F{n}, p{n:03d}@example.com" for n in range(120)))
    imported(admin_client, job_id, now)
    statements = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if "import_job_rows" in statement or "FROM users" in statement:
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", watch)
    try:
        fragment = text(admin_client.get(f"/admin/imports/{job_id}?page=2", headers=htmx_headers("import-people")))
    finally:
        event.remove(db.engine, "before_cursor_execute", watch)

    assert len(listed(fragment)) == 50
    reads = [statement for statement in statements if "import_job_rows" in statement]
    assert len(reads) == 1 and "JOIN users" in reads[0] and "LIMIT" in reads[0]


def test_the_last_poll_of_the_progress_brings_the_people_in(admin_client, now):
    job_id = draft_of(preview(admin_client, "email\na@example.com\nb@example.com"))
    assert admin_client.post(f"/admin/imports/{job_id}/start").status_code == 303
    running = text(admin_client.get(f"/admin/imports/{job_id}"))
    assert people_section(running).strip() == ""  # nothing yet: the import has not run

    run_import_job(job_id, now=now)
    fragment = text(admin_client.get(f"/admin/imports/{job_id}", headers=htmx_headers("import-progress")))

    assert '<section id="import-people" aria-labelledby="import-people-title" hx-swap-oob="true">' in fragment
    assert [email for _, email, *_ in listed(fragment)] == ["a@example.com", "b@example.com"]
    assert tabs(fragment)[0] == {"All": 2, "Created": 2}


def test_an_import_that_named_no_one_says_so(admin_client, now):
    job_id, _ = previewed(admin_client, "email\na@example.com\nnot-an-email")
    page = imported(admin_client, job_id, now)
    assert listed(page) != []

    job_id = queue("email\nnot-an-email", now)
    run_import_job(job_id, now=now)
    assert "This import created, updated or skipped no one." in visible(page_of(admin_client, job_id))


def test_a_person_whose_account_was_deleted_is_still_listed_without_a_link(admin_client, now):
    job_id, _ = previewed(admin_client, "email\ngone@example.com")
    imported(admin_client, job_id, now)
    db.session.delete(user_of("gone@example.com"))
    db.session.commit()

    assert listed(page_of(admin_client, job_id)) == [(2, "gone@example.com", None, "", "Created")]
    assert db.session.scalar(select(func.count()).select_from(ImportJobRow)) == 1
