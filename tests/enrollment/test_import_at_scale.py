"""Imports that do not slow down as the platform grows, and rosters read as a stream (issue 19).

What a user notices: an import costs the same statements per batch whether the platform holds
200 people or 5,000; a roster longer than what is kept in memory is imported whole, each error
on its own line, the same as a short one; a job resumed after its worker died finishes such a
roster once; `lms import` takes more rows than the page; the planner learns of a bulk import
at once on PostgreSQL. No timing is asserted (bench/import_roster.py measures).
"""
import io
import weakref
from datetime import date, datetime, timedelta, timezone

import pytest
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import event, func, select, text

from lms.accounts.models import Role, User, UserLabel, UserStatus
from lms.db_utils import insert_rows
from lms.due_work import run_due
from lms.enrollment.groups.models import GroupMembership
from lms.enrollment.rosters import importer, jobs, parser
from lms.enrollment.rosters.importer import run_import
from lms.enrollment.rosters.jobs import create_import_job, run_import_job
from lms.enrollment.rosters.models import ImportJob, ImportJobRow, ImportJobStatus
from lms.enrollment.rosters.parser import MAX_CLI_ROWS, load_roster, normalized_email, parse_text
from lms.extensions import db
from lms.notifications.models import OutboxEmail
from lms.programs.cascade import assign_group
from lms.programs.models import Enrollment
from tests.conftest import Clock, count, ended_process_id, user_of, worker_at

LANGUAGES = ["en", "fr", "nl"]


def roster_text(count, *, prefix="person", groups=("Sales",), start=0):
    lines = ["email,first_name,last_name,labels,groups"]
    lines += [f"{prefix}{number}@example.com,First{number},Last{number},North | Bench,{groups[number % len(groups)]}"
              for number in range(start, start + count)]
    return "\n".join(lines)


def existing_people(count, now, group=None):
    """`count` accounts already on the platform (invited, half of them in `group`)."""
    insert_rows(User, [{"email": f"old{number}@example.com", "status": UserStatus.invited, "first_name": "Old",
                        "last_name": str(number), "language": "en", "additional_info": "", "created_at": now,
                        "updated_at": now} for number in range(count)])
    if group is not None:
        ids = db.session.scalars(select(User.id).where(User.email.like("old%"))).all()
        insert_rows(GroupMembership, [{"group_id": group.id, "user_id": user_id, "created_at": now}
                                      for user_id in ids[::2]])
    db.session.commit()


class Statements:
    """The SQL statements sent while it is entered, and the accounts loaded as ORM objects."""

    def __enter__(self):
        self.sent, self.users_loaded = [], 0
        event.listen(db.engine, "before_cursor_execute", self._sent)
        event.listen(User, "load", self._loaded)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._sent)
        event.remove(User, "load", self._loaded)

    def _sent(self, conn, cursor, statement, parameters, context, executemany):
        self.sent.append(statement)

    def _loaded(self, target, context):
        self.users_loaded += 1


def statements_of_an_import(now, existing, make_group, make_session, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 250)
    group = make_group("Sales")
    existing_people(existing, now, group)
    assign_group(make_session(starts_at=now + timedelta(days=9)), group, actor=None, now=now)
    db.session.commit()
    roster = parse_text(roster_text(1000), languages=LANGUAGES)
    with Statements() as statements:
        report = run_import(roster, actor=None, now=now)
    db.session.commit()
    assert (report.created, report.errors, count(Enrollment)) == (1000, [], 1000 + existing // 2)
    return statements


def test_the_statements_per_batch_do_not_grow_with_the_people_already_there(app, make_group, make_session,
                                                                            monkeypatch, now):
    few = statements_of_an_import(now, 200, make_group, make_session, monkeypatch)
    db.session.remove()
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())
    many = statements_of_an_import(now, 5000, make_group, make_session, monkeypatch)

    assert len(many.sent) == len(few.sent)  # four batches of 250 rows, with 200 or 5,000 people there
    assert sorted(set(many.sent)) == sorted(set(few.sent))
    assert few.users_loaded == many.users_loaded == 0  # new people: no account is loaded as an object


def rosters_both_ways(monkeypatch, data, run):
    """What importing `data` does when the plan is kept in memory and when it is streamed."""
    outcomes = []
    for kept in (10**6, 3):
        monkeypatch.setattr(importer, "KEPT_PLAN_ROWS", kept)
        outcomes.append(run(data))
    return outcomes


TRICKY = "\n".join([
    "# exported from the HR system",
    "email,first_name,last_name,labels,groups,additional_info",
    "ann@example.com,Ann,Lee,North,Sales,",
    "",
    "not-an-email,Bad,Row,,Sales,",
    'bob@example.com,Bob,Ray,South | North,Sales,"two',
    'lines"',
    "ann@example.com,Ann,Again,,Sales,",
    "cid@example.com,Cid,Roe,,Nowhere,",
    "# a comment between rows",
    "dee@example.com,Dee,Fox,,Sales;Support,",
    "eve@example.com,Eve,Kim,East,,",
    "fay@example.com,Fay,Ng,,Support,",
    "gus@example.com,Gus,Oz,West,Sales,",
])


def test_a_roster_streamed_through_the_import_is_imported_as_one_kept_in_memory(app, make_group, monkeypatch, now):
    make_group("Sales")
    make_group("Support")
    monkeypatch.setattr(importer, "BATCH_SIZE", 2)

    def run(data):
        roster = parse_text(data, languages=LANGUAGES)
        report = run_import(roster, actor=None, now=now)
        db.session.commit()
        people = db.session.execute(
            select(User.email, User.first_name, User.last_name, User.additional_info)
            .order_by(User.email)).all()
        labels = sorted(db.session.execute(select(User.email, UserLabel.label)
                                           .join(UserLabel, UserLabel.user_id == User.id)).all())
        members = sorted(db.session.execute(select(User.email, GroupMembership.group_id)
                                            .join(GroupMembership, GroupMembership.user_id == User.id)).all())
        result = (report.as_dict(), people, labels, members, count(OutboxEmail))
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                if table.name not in ("groups",):
                    connection.execute(table.delete())
        return result

    kept, streamed = rosters_both_ways(monkeypatch, TRICKY, run)

    assert streamed == kept
    report, people, *_ = streamed
    assert [(error["line"], error["column"]) for error in report["errors"]] == [
        (5, "email"), (8, "email"), (9, "groups")]
    assert report["created"] == 6 and report["total_rows"] == 9
    assert ("bob@example.com", "Bob", "Ray", "two\nlines") in people


def queue(data, now, **options):
    job = create_import_job(data.encode() if isinstance(data, str) else data, source="csv", actor=None, now=now,
                            **options)
    db.session.commit()
    return job.id


def job_row(job_id):
    db.session.expire_all()
    return db.session.get(ImportJob, job_id)


class Crash(BaseException):
    """The process dies here (kill -9): no handler runs, nothing more is committed."""


def test_a_streamed_job_killed_mid_import_resumes_after_its_last_committed_batch(app, make_group, monkeypatch,
                                                                                 now):
    make_group("Sales")
    monkeypatch.setattr(importer, "BATCH_SIZE", 10)
    monkeypatch.setattr(importer, "KEPT_PLAN_ROWS", 5)
    data = roster_text(24) + "\nbroken,Bad,Row,,Sales\n" + roster_text(10, start=24).split("\n", 1)[1]
    job_id = queue(data, now)
    writes = importer._write

    def crash_in_second_batch(batch, *args, **kwargs):
        crash_in_second_batch.calls += 1
        if crash_in_second_batch.calls == 2:
            raise Crash()
        return writes(batch, *args, **kwargs)

    crash_in_second_batch.calls = 0
    monkeypatch.setattr(importer, "_write", crash_in_second_batch)
    with pytest.raises(Crash):
        run_import_job(job_id, now=now, worker=worker_at(Clock(), pid=ended_process_id()))
    db.session.rollback()
    assert (job_row(job_id).rows_processed, count(User)) == (10, 10)

    monkeypatch.setattr(importer, "_write", writes)
    assert run_due(now=now)["imports_resumed"] == 1

    job = job_row(job_id)
    assert (job.status, job.created_count, job.rejected_count, job.rows_processed) == (
        ImportJobStatus.finished, 34, 1, 35)
    assert count(User) == 34 and count(GroupMembership) == 34
    lines = db.session.scalars(select(ImportJobRow.line).where(ImportJobRow.job_id == job_id)
                               .order_by(ImportJobRow.line)).all()
    assert lines == [line for line in range(2, 37) if line != 26]  # each person once, the rejected line not
    assert [(error["line"], error["cells"]) for error in job.errors] == [(26, ["broken", "Bad", "Row", "", "Sales"])]


def test_a_strict_streamed_import_with_an_error_writes_nothing(app, make_group, monkeypatch, now):
    make_group("Sales")
    monkeypatch.setattr(importer, "BATCH_SIZE", 4)
    monkeypatch.setattr(importer, "KEPT_PLAN_ROWS", 3)
    data = roster_text(12) + "\nlast@example.com,Last,Row,,Nowhere"

    job = run_import_job(queue(data, now, strict=True), now=now)

    assert job.status == ImportJobStatus.finished and job.created_count == 0
    assert [error["line"] for error in job.errors] == [14] and count(User) == 0


def test_a_streamed_dry_run_writes_nothing_and_counts_every_row(app, monkeypatch, now):
    monkeypatch.setattr(importer, "BATCH_SIZE", 3)
    monkeypatch.setattr(importer, "KEPT_PLAN_ROWS", 2)
    roster = parse_text(roster_text(10, groups=("",)), languages=LANGUAGES)

    report = run_import(roster, actor=None, now=now, dry_run=True)

    assert (report.created, report.errors) == (10, []) and count(User) == 0


def test_the_command_line_takes_a_roster_longer_than_the_page_does(app, make_group, monkeypatch, now, tmp_path):
    make_group("Sales")
    monkeypatch.setattr(jobs, "MAX_ROWS", 5)  # the page's limit, made small
    path = tmp_path / "big.csv"
    path.write_text(roster_text(12), encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["lms", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert "Created: 12" in result.output and count(User) == 12
    with pytest.raises(parser.RosterTooLarge):
        create_import_job(path.read_bytes(), source="csv", actor=None, now=now)


def xlsx(rows):
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("People")
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_a_long_workbook_spooled_to_disk_reads_its_dates_numbers_and_booleans_back(app, monkeypatch, now):
    monkeypatch.setattr(parser, "KEPT_RECORDS", 3)
    leaves = (now + timedelta(days=60)).date()
    rows = [["email", "first_name", "send_email", "deactivate_on", "additional_info"]]
    rows += [[f"p{number}@example.com", f"P{number}", number % 2 == 0,
              datetime.combine(leaves, datetime.min.time()), 1000 + number] for number in range(9)]
    rows.insert(5, ["not-an-email", "Bad", True, None, None])

    roster = load_roster(xlsx(rows), languages=LANGUAGES)

    assert roster.total_rows == 10 and roster._records._file is not None  # spooled, not kept
    read = list(roster.iter_rows())
    assert [row.line for row in read] == list(range(2, 12))
    assert [row.line for row in read if row.errors] == [6]
    good = [row for row in read if not row.errors]
    assert good[0].values == {"email": "p0@example.com", "first_name": "P0", "send_email": True,
                              "deactivate_on": leaves, "additional_info": "1000"}
    assert good[1].values["send_email"] is False
    assert list(roster.iter_rows()) == read  # read again from the spool, the same


def test_a_roster_of_200_000_rows_is_read_without_holding_its_rows(monkeypatch):
    import tracemalloc

    data = roster_text(200_000).encode()
    tracemalloc.start()
    try:
        roster = load_roster(data, languages=LANGUAGES, max_rows=MAX_CLI_ROWS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert roster.total_rows == 200_000
    assert peak < 3 * len(data)  # its text, and not 200,000 rows (each of which costs more than its line)
    rows = roster.iter_rows()
    first = next(rows)
    assert (first.line, first.email) == (2, "person0@example.com")
    watched = weakref.ref(first)
    del first
    for _, row in zip(range(5000), rows):
        pass
    assert watched() is None  # a row read is let go once the reader has it
    assert row.line == 5002 and roster._rows is None


@pytest.mark.parametrize("address", [
    "Jane.Doe@Example.COM", "a@b.co", "x_y-z+tag@sub.example.org", "o'brien@example.ie", "a..b@example.com",
    ".a@example.com", "a.@example.com", "a@localhost", "a@example.local", "a@x.test", "a@example.invalid",
    "a@123.456", "a@example", "a@-example.com", "a@example-.com", "a@exa_mple.com", "a@example.com.",
    "a@[127.0.0.1]", "a@xn--bcher-kva.ch", "a@bücher.ch", "ü@example.com", "a" * 64 + "@example.com",
    "a" * 65 + "@example.com", "a" * 240 + "@example.com", "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58,
    "a@" + "b" * 64 + ".com", "postmaster@example.com", "a b@example.com", '"a"@example.com', "a@b@example.com",
    "a@example.c", "a@example.123", "{x}|~@example.com",
])
def test_the_quick_email_check_answers_as_email_validator_does(address):
    try:
        expected = validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        with pytest.raises(ValueError) as refused:
            normalized_email(address)
        assert str(error) in str(refused.value)
    else:
        assert normalized_email(address) == expected


def test_insert_rows_stores_what_an_orm_insert_stores(app, now):
    later = date(2031, 5, 6)
    values = {"first_name": "Zoë", "last_name": "", "role": Role.manager, "status": UserStatus.active,
              "language": "fr", "additional_info": "", "deactivate_on": later, "must_change_password": True,
              "created_at": now, "updated_at": now + timedelta(hours=1)}
    db.session.add(User(email="orm@example.com", **values))
    db.session.flush()
    insert_rows(User, [{"email": "bulk@example.com", **values}])
    orm_id, bulk_id = (user_of(email).id for email in ("orm@example.com", "bulk@example.com"))
    insert_rows(OutboxEmail, [{"recipient": "bulk@example.com", "user_id": bulk_id, "kind": "invitation",
                               "language": "fr", "context": {"a": [1, "é"], "b": None}, "dedupe_key": "bulk",
                               "due_at": now, "next_attempt_at": now, "created_at": now}])
    db.session.add(OutboxEmail(recipient="orm@example.com", user_id=orm_id, kind="invitation", language="fr",
                               context={"a": [1, "é"], "b": None}, dedupe_key="orm", due_at=now,
                               next_attempt_at=now, created_at=now))
    db.session.commit()

    def stored(table, key, value):
        row = db.session.execute(text(f"SELECT * FROM {table} WHERE {key} = :value"), {"value": value}).mappings().one()
        return {name: cell for name, cell in row.items() if name not in ("id", "email", "user_id", "recipient",
                                                                          "dedupe_key")}

    assert stored("users", "email", "bulk@example.com") == stored("users", "email", "orm@example.com")
    assert stored("outbox_emails", "dedupe_key", "bulk") == stored("outbox_emails", "dedupe_key", "orm")
    bulk = user_of("bulk@example.com")
    assert (bulk.role, bulk.deactivate_on, bulk.created_at, bulk.session_version) == (Role.manager, later, now, 0)
    email = db.session.scalar(select(OutboxEmail).where(OutboxEmail.dedupe_key == "bulk"))
    assert (email.context, email.status.value, email.attempts, email.due_at.tzinfo) == (
        {"a": [1, "é"], "b": None}, "queued", 0, timezone.utc)


def test_a_bulk_import_tells_the_planner_about_its_rows(app, monkeypatch, now):
    monkeypatch.setattr(jobs, "ANALYZE_FROM_ROWS", 3)

    run_import_job(queue(roster_text(4, groups=("",)), now), now=now)

    if db.engine.dialect.name == "postgresql":
        assert db.session.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'users'::regclass")) == 4
    else:  # sqlite_stat1 holds "rows per index, then rows per distinct key"
        stats = db.session.scalars(text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'users'")).all()
        assert stats and all(stat.split()[0] == "4" for stat in stats)
    assert db.session.scalar(select(func.count()).select_from(User)) == 4


def test_a_roster_updating_its_people_costs_as_many_statements_for_300_rows_as_for_100(app, make_group, now):
    make_group("Sales")
    run_import(parse_text(roster_text(300), languages=LANGUAGES), actor=None, now=now)
    db.session.commit()

    def statements_updating(rows):
        text_ = roster_text(rows).replace("North | Bench", "South").replace(",First", ",Renamed")
        with Statements() as statements:
            report = run_import(parse_text(text_, languages=LANGUAGES), actor=None, now=now, mode="update")
        db.session.rollback()
        assert report.updated == rows
        return len(statements.sent)

    assert statements_updating(300) == statements_updating(100)  # no statement per person (their labels...)


def test_rows_colliding_with_a_unique_key_are_skipped_and_the_others_written(app, make_user, make_group, now):
    from lms.db_utils import insert_ignoring_conflicts

    group = make_group("Sales")
    people = [make_user(f"p{number}@example.com") for number in range(4)]
    insert_ignoring_conflicts(GroupMembership, [{"group_id": group.id, "user_id": people[0].id, "created_at": now}])
    rows = [{"group_id": group.id, "user_id": person.id, "created_at": now} for person in people]

    insert_ignoring_conflicts(GroupMembership, rows + rows[1:2])  # one already there, one given twice
    insert_ignoring_conflicts(GroupMembership, rows[3:])  # all already there
    db.session.commit()

    assert sorted(db.session.scalars(select(GroupMembership.user_id))) == sorted(person.id for person in people)
