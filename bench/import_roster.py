"""Roster import benchmark (issue 5): rosters of 1,000 and 10,000 rows whose groups two future
sessions use (so the cascade runs), imported end to end and committed.

    .venv/bin/python bench/import_roster.py [--rows 1000 10000] [--passwords 200] [--database-url URL]
                                            [--existing 100000]

Prints, per size: the import's time (parse, plan, write users, labels, invitations, group
memberships, enrollments and queued emails, commit), the process's peak memory, and the floor:
a plain executemany of the same users into the same database. --rows takes up to 200,000 (the
command line's limit: the roster is read as a stream); the peak memory printed is the process's
(ru_maxrss), and how much it grew during that import. With --existing N, each size is imported
again into a database already holding N users (imported as rosters before it, so with their
invitations, group memberships, enrollments and emails), and its cost per row is compared with
the empty database's (issue 19: within 1.2 x). With --passwords N, also times
N rows with passwords against N x one hash / cores measured in the same run.
With --preview N, also times the Add users page on an N-row XLSX upload, over HTTP through
the Flask test client as an admin: the upload and preview (read, plan, store the draft), the
preview page, a later page of it, and the import run as the page's background job does.
Targets: 10,000 rows under 10 s, and within 10 x of the floor (issue 19); 200,000 rows under
300 MB; at 100,000 existing users, within 1.2 x of the cost per row on an empty database;
passwords within 1.3 x of the hashing floor; the preview of 10,000 rows under 3 s.
"""
import argparse
import io
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from bench.dispatch import make_app  # noqa: E402
from lms.accounts.models import User, UserStatus  # noqa: E402
from lms.enrollment.groups.services import create_group  # noqa: E402
from lms.enrollment.rosters.importer import run_import  # noqa: E402
from lms.enrollment.rosters.models import ImportJob  # noqa: E402
from lms.enrollment.rosters.parser import MAX_CLI_ROWS, load_roster  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.programs.cascade import assign_group  # noqa: E402
from lms.programs.models import Program, ProgramSession  # noqa: E402


def roster_csv(prefix, count, groups, with_passwords=False, start=0):
    lines = ["last_name,first_name,email,labels,send_email,password,language,additional_info,groups"]
    for number in range(start, start + count):
        password = f"pass-{number:06d}" if with_passwords else ""
        lines.append(f"Name{number},First{number},{prefix}{number}@example.com,North | Bench,1,{password},en,"
                     f"Row {number},{groups[number % len(groups)]}")
    return "\n".join(lines).encode()


FLOOR_CHUNK = 10_000  # rows per executemany of the floor (so 200,000 rows do not measure memory)


def floor_executemany(prefix, count, now):
    seconds = 0.0
    for first in range(0, count, FLOOR_CHUNK):
        rows = [{"email": f"{prefix}{n}@example.com", "status": UserStatus.invited, "first_name": "F",
                 "last_name": "L", "language": "en", "additional_info": "", "created_at": now, "updated_at": now}
                for n in range(first, min(count, first + FLOOR_CHUNK))]
        start = time.perf_counter()
        db.session.execute(sa.insert(User), rows)
        seconds += time.perf_counter() - start
    start = time.perf_counter()
    db.session.commit()
    return seconds + time.perf_counter() - start


def timed_import(data, now):
    """(seconds, CPU seconds of this process, peak RSS, MB the peak grew during it, report)."""
    before, cpu = rss(), time.process_time()
    start = time.perf_counter()
    roster = load_roster(data, languages=["en", "fr", "nl"], max_rows=MAX_CLI_ROWS)
    report = run_import(roster, actor=None, now=now)
    db.session.commit()
    seconds = time.perf_counter() - start
    assert not report.errors, report.errors[:3]
    return seconds, time.process_time() - cpu, peak_rss(), max(0, peak_rss() - before), report


def seed_existing(count, names, now):
    """`count` users as earlier imports leave them: each invited (an invitation and its email),
    in a group that the future sessions use (an enrollment and its email), with two labels."""
    existing = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    for first in range(existing, count, 50_000):
        data = roster_csv("existing", min(count, first + 50_000) - first, names, start=first)
        report = run_import(load_roster(data, languages=["en", "fr", "nl"], max_rows=MAX_CLI_ROWS),
                            actor=None, now=now)
        assert not report.errors, report.errors[:3]
        db.session.commit()
    if db.session.get_bind().dialect.name == "postgresql":  # as autovacuum would have by then
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()


def roster_xlsx(prefix, count, groups):
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Accounts")
    sheet.append(["last_name", "first_name", "email", "labels", "send_email", "password", "language",
                  "additional_info", "groups", "role", "deactivate_on"])
    for number in range(count):
        sheet.append([f"Name{number}", f"First{number}", f"{prefix}{number}@example.com", "North | Bench", 1, None,
                      "en", f"Row {number}", groups[number % len(groups)], "learner", None])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def timed_preview(app, data, now):
    """(upload and preview, preview page, page 50, import job) seconds, through the page."""
    from lms.enrollment.rosters.jobs import run_import_job

    admin = User(email="bench-admin@example.com", first_name="Bench", last_name="Admin", role="admin",
                 status=UserStatus.active, password_hash=generate_password_hash("bench-password"), language="en",
                 created_at=now, updated_at=now)
    db.session.add(admin)
    db.session.commit()
    app.config.update(WTF_CSRF_ENABLED=False, LMS_IMPORT_IN_BACKGROUND=False)
    client = app.test_client()
    client.post("/login", data={"email": admin.email, "password": "bench-password"})
    start = time.perf_counter()
    response = client.post("/admin/imports/new", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), "roster.xlsx"), "mode": "create", "language": "en",
                                 "role": "learner", "send_email": "y"})
    upload = time.perf_counter() - start
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    location = response.headers["Location"]
    start = time.perf_counter()
    page = client.get(location)
    first_page = time.perf_counter() - start
    rows = db.session.get(ImportJob, int(location.rsplit("/", 1)[1])).rows_total
    assert page.status_code == 200 and f"Import {rows:,} rows".encode() in page.data
    start = time.perf_counter()
    later = client.get(location + "?show=create&page=50", headers={"HX-Request": "true", "HX-Target": "preview-table"})
    later_page = time.perf_counter() - start
    assert later.status_code == 200
    client.post(location + "/start")
    job_id = int(location.rsplit("/", 1)[1])
    start = time.perf_counter()
    run_import_job(job_id, now=now)
    job = time.perf_counter() - start
    return upload, first_page, later_page, job


def peak_rss():
    """The process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss():
    """The process's resident memory now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def set_up_groups(now):
    """Two groups, each used by a future session (so every imported member is enrolled)."""
    program = Program(title="Bench", created_at=now)
    groups = [create_group(name, actor=None, now=now) for name in ("Sales", "Support")]
    for number, group in enumerate(groups):
        session = ProgramSession(program=program, name=f"Session {number}", starts_at=now + timedelta(days=9),
                                 ends_at=now + timedelta(days=10), created_at=now)
        db.session.add(session)
        db.session.flush()
        assign_group(session, group, actor=None, now=now)
    db.session.commit()
    return [group.name for group in groups]


def against_existing(app, big_app, sizes, rounds, now):
    """For each size, `rounds` pairs: an import into a new empty database, then one into the
    database of existing users (imports taken in turn, so the machine's drift touches both
    alike). Returns {size: [(empty seconds, cpu), (existing seconds, cpu)] per round}."""
    pairs = {size: [] for size in sizes}
    for round_number in range(rounds):
        for size in sizes:
            with app.app_context():
                db.drop_all()
                db.create_all()
                names = set_up_groups(now)
                empty = timed_import(roster_csv(f"empty{round_number}-{size}-", size, names), now)
                db.session.remove()
            with big_app.app_context():
                full = timed_import(roster_csv(f"again{round_number}-{size}-", size, names), now)
                db.session.remove()
            pairs[size].append(((empty[0], empty[1]), (full[0], full[1])))
    return pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--passwords", type=int, default=200)
    parser.add_argument("--preview", type=int, default=10_000, help="rows of the XLSX previewed through the page")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--existing", type=int, default=0,
                        help="import each size again into a database already holding this many users")
    parser.add_argument("--rounds", type=int, default=3, help="with --existing: pairs of imports; medians are reported")
    args = parser.parse_args()
    if max(args.rows) > MAX_CLI_ROWS:
        parser.error(f"--rows: at most {MAX_CLI_ROWS:,} (the command line's limit)")
    workdirs = [Path(tempfile.mkdtemp(prefix="lms-bench-"))]
    app, url, schema = make_app(args.database_url, workdirs[0])
    big_app, big_schema = None, None
    now = datetime.now(timezone.utc)
    lines = [f"backend    {'postgresql' if args.database_url else 'sqlite'}"]
    try:
        with app.app_context():
            db.create_all()
            names = set_up_groups(now)
            for size in args.rows:
                floor = floor_executemany(f"floor{size}-", size, now)
                seconds, cpu, peak, grew, report = timed_import(roster_csv(f"import{size}-", size, names), now)
                lines.append(f"{size:>6,} rows  import {seconds:6.2f} s ({size / seconds:,.0f} rows/s, "
                             f"peak RSS so far {peak / 2**20:,.0f} MB, {report.emails_queued:,} emails queued)  "
                             f"floor executemany {floor:5.2f} s ({size / floor:,.0f} rows/s): "
                             f"{seconds / floor:.1f} x the floor; the peak grew {grew / 2**20:,.0f} MB during it")
            if args.passwords:
                start = time.perf_counter()
                generate_password_hash("one-hash-timing")
                one_hash = time.perf_counter() - start
                cores = os.cpu_count() or 1
                hashing_floor = args.passwords * one_hash / cores
                seconds, *_ = timed_import(roster_csv("password-", args.passwords, names, with_passwords=True), now)
                lines.append(f"{args.passwords:>6,} rows with passwords  import {seconds:.2f} s; "
                             f"hashing floor {hashing_floor:.2f} s ({one_hash * 1000:.0f} ms a hash, {cores} cores): "
                             f"{seconds / hashing_floor:.2f} x (target <= 1.3 x)")
            if args.preview:
                data = roster_xlsx("preview-", args.preview, names)
                upload, first_page, later_page, job = timed_preview(app, data, now)
                lines.append(f"{args.preview:>6,} rows XLSX ({len(data) / 2**20:.1f} MB) through the page: upload and "
                             f"preview {upload:.2f} s, preview page {first_page:.2f} s, page 50 (htmx) "
                             f"{later_page:.2f} s (target: preview < 3 s); import job {job:.2f} s; "
                             f"peak RSS so far {peak_rss() / 2**20:,.0f} MB")
            db.session.remove()
        if args.existing:
            workdirs.append(Path(tempfile.mkdtemp(prefix="lms-bench-")))
            big_app, big_url, big_schema = make_app(args.database_url, workdirs[1])
            with big_app.app_context():
                db.create_all()
                start = time.perf_counter()
                seed_existing(args.existing, set_up_groups(now), now)
                users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
                db.session.remove()
            lines.append(f"existing   {users:,} users in a second database "
                         f"(seeded in {time.perf_counter() - start:.0f} s)")
            for size, pairs in against_existing(app, big_app, args.rows, args.rounds, now).items():
                empty, full = [sorted(seconds for seconds, _ in side) for side in zip(*pairs)]
                ratios = sorted(full_side[0] / empty_side[0] for empty_side, full_side in pairs)
                cpu_ratios = sorted(full_side[1] / empty_side[1] for empty_side, full_side in pairs)
                lines.append(f"{size:>6,} rows  per row {median(full) / size * 1e6:,.0f} us into {users:,} users vs "
                             f"{median(empty) / size * 1e6:,.0f} us into an empty database: {median(ratios):.2f} x "
                             f"(pairs {', '.join(f'{ratio:.2f}' for ratio in ratios)}; CPU of this process "
                             f"{median(cpu_ratios):.2f} x; target <= 1.2 x)")
    finally:
        for database_url, name in ((url, schema), (url, big_schema)):
            if name:
                with sa.create_engine(database_url).begin() as connection:
                    connection.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        for workdir in workdirs:  # the SQLite databases (hundreds of MB with --existing)
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
