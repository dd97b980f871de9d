"""Roster import benchmark (issue 5): rosters of 1,000 and 10,000 rows whose groups two future
sessions use (so the cascade runs), imported end to end and committed.

    .venv/bin/python bench/import_roster.py [--rows 1000 10000] [--passwords 200] [--database-url URL]

Prints, per size: the import's time (parse, plan, write users, labels, invitations, group
memberships, enrollments and queued emails, commit), the process's peak memory, and the floor:
a plain executemany of the same users into the same database. With --passwords N, also times
N rows with passwords against N x one hash / cores measured in the same run.
With --preview N, also times the Add users page on an N-row XLSX upload, over HTTP through
the Flask test client as an admin: the upload and preview (read, plan, store the draft), the
preview page, a later page of it, and the import run as the page's background job does.
Targets: 10,000 rows under 10 s; under 300 MB; passwords within 1.3 x of the hashing floor;
the preview of 10,000 rows under 3 s.
"""
import argparse
import io
import os
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from bench.dispatch import make_app  # noqa: E402
from lms.accounts.models import User, UserStatus  # noqa: E402
from lms.enrollment.groups.services import create_group  # noqa: E402
from lms.enrollment.rosters.importer import run_import  # noqa: E402
from lms.enrollment.rosters.models import ImportJob  # noqa: E402
from lms.enrollment.rosters.parser import load_roster  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.programs.cascade import assign_group  # noqa: E402
from lms.programs.models import Program, ProgramSession  # noqa: E402


def roster_csv(prefix, count, groups, with_passwords=False):
    lines = ["last_name,first_name,email,labels,send_email,password,language,additional_info,groups"]
    for number in range(count):
        password = f"pass-{number:06d}" if with_passwords else ""
        lines.append(f"Name{number},First{number},{prefix}{number}@example.com,North | Bench,1,{password},en,"
                     f"Row {number},{groups[number % len(groups)]}")
    return "\n".join(lines).encode()


def floor_executemany(prefix, count, now):
    rows = [{"email": f"{prefix}{n}@example.com", "status": UserStatus.invited, "first_name": "F",
             "last_name": "L", "language": "en", "additional_info": "", "created_at": now, "updated_at": now}
            for n in range(count)]
    start = time.perf_counter()
    db.session.execute(sa.insert(User), rows)
    db.session.commit()
    return time.perf_counter() - start


def timed_import(data, now):
    start = time.perf_counter()
    roster = load_roster(data, languages=["en", "fr", "nl"])
    report = run_import(roster, actor=None, now=now)
    db.session.commit()
    seconds = time.perf_counter() - start
    assert not report.errors, report.errors[:3]
    return seconds, peak_rss(), report


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--passwords", type=int, default=200)
    parser.add_argument("--preview", type=int, default=10_000, help="rows of the XLSX previewed through the page")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    app, url, schema = make_app(args.database_url, Path(tempfile.mkdtemp(prefix="lms-bench-")))
    now = datetime.now(timezone.utc)
    lines = [f"backend    {'postgresql' if args.database_url else 'sqlite'}"]
    try:
        with app.app_context():
            db.create_all()
            program = Program(title="Bench", created_at=now)
            groups = [create_group(name, actor=None, now=now) for name in ("Sales", "Support")]
            for number, group in enumerate(groups):
                session = ProgramSession(program=program, name=f"Session {number}", starts_at=now + timedelta(days=9),
                                         ends_at=now + timedelta(days=10), created_at=now)
                db.session.add(session)
                db.session.flush()
                assign_group(session, group, actor=None, now=now)
            db.session.commit()
            names = [group.name for group in groups]
            for size in args.rows:
                floor = floor_executemany(f"floor{size}-", size, now)
                seconds, peak, report = timed_import(roster_csv(f"import{size}-", size, names), now)
                lines.append(f"{size:>6,} rows  import {seconds:6.2f} s ({size / seconds:,.0f} rows/s, "
                             f"peak RSS so far {peak / 2**20:,.0f} MB, {report.emails_queued:,} emails queued)  "
                             f"floor executemany {floor:5.2f} s ({size / floor:,.0f} rows/s)")
            if args.passwords:
                start = time.perf_counter()
                generate_password_hash("one-hash-timing")
                one_hash = time.perf_counter() - start
                cores = os.cpu_count() or 1
                hashing_floor = args.passwords * one_hash / cores
                seconds, _, _ = timed_import(roster_csv("password-", args.passwords, names, with_passwords=True), now)
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
    finally:
        if schema:
            with sa.create_engine(url).begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
