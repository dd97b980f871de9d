"""Chaos check of the outbox (R10): `lms scheduler` killed with SIGKILL at random moments while
it sends, restarted each time; then what the SMTP server received.

    .venv/bin/python bench/chaos_outbox.py [--emails 5000] [--kills 6] [--database-url URL] [--seed N]
    .venv/bin/python bench/chaos_outbox.py --hang [--mail-timeout 30] [--database-url URL]
    .venv/bin/python bench/chaos_outbox.py --import-kill [--rows 20000] [--database-url URL]

Queues N invitation emails in a fresh database (a SQLite file, or a database of its own on
the PostgreSQL server of --database-url, dropped afterwards), runs the real `flask --app wsgi
lms scheduler` against a recording SMTP server (bench/smtp_sink.py, its own process, which
notes each accepted message's Message-ID), kills it with SIGKILL at a random moment after each
start, --kills times, and lets the last one drain the outbox. Prints: received unique, sent
twice, lost (queued but never received), left stuck (not `sent` at the end), and seconds from
the last restart to an empty outbox; then stops the scheduler with SIGTERM and prints how long
it took to exit.

--hang: `lms run-due` against a server that accepts connections and never answers, with an
account due for deactivation: prints how long the command took, what the rows say, and
whether the deactivation happened. --import-kill: an import job of --rows rows run by `lms
scheduler`, killed with SIGKILL once 5,000 rows are written, then a new scheduler; and a second
job raced by two schedulers started together. Prints each job's end and counts.
"""
import argparse
import bisect
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from lms import create_app  # noqa: E402
from lms.config import Config, normalize_database_url  # noqa: E402
from lms.enrollment.invitations.services import invite_people  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.notifications.models import OutboxEmail, OutboxStatus  # noqa: E402


def fresh_database(database_url, workdir):
    """(url, drop): an empty database."""
    if not database_url:
        return f"sqlite:///{workdir / 'chaos.sqlite3'}", lambda: None
    server = sa.engine.make_url(normalize_database_url(database_url))
    name = f"chaos_{secrets.token_hex(4)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))

    return server.set(database=name).render_as_string(hide_password=False), drop


def seed(url, workdir, count):
    os.environ["DATABASE_URL"] = url
    app = create_app(Config(str(workdir)))
    with app.app_context():
        db.create_all()
        now = datetime.now(timezone.utc)
        emails = [f"learner{number}@example.com" for number in range(count)]
        for start in range(0, count, 1000):
            invite_people(emails[start:start + 1000], actor=None, now=now, message="Welcome aboard!")
        db.session.commit()
        domain = app.config["BASE_URL"].split("//", 1)[-1].split("/", 1)[0].split(":")[0] or "localhost"
        ids = db.session.scalars(sa.select(OutboxEmail.id)).all()
    return app, {f"<outbox-{email_id}@{domain}>" for email_id in ids}


def outbox_counts(app):
    with app.app_context():
        rows = db.session.execute(sa.select(OutboxEmail.status, sa.func.count()).group_by(OutboxEmail.status)).all()
        db.session.remove()
    return {status: number for status, number in rows}


def start_scheduler(environment, log):
    return subprocess.Popen([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "lms", "scheduler"],
                            cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)


def hanging_server():
    """A loopback port that accepts connections and never says a word; returns its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held = []

    def accept():
        while True:
            held.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


def check_hang(args, workdir):
    from lms.accounts.models import Role, User, UserStatus

    url, drop = fresh_database(args.database_url, workdir)
    try:
        app, _ = seed(url, workdir, args.emails)
        with app.app_context():
            now = datetime.now(timezone.utc)
            db.session.add(User(email="leaving@example.com", first_name="Leaving", last_name="", role=Role.learner,
                                status=UserStatus.active, language="en", deactivate_on=date.today(),
                                created_at=now, updated_at=now))
            db.session.commit()
        environment = {**os.environ, "DATABASE_URL": url, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(hanging_server()),
                       "MAIL_TIMEOUT": str(args.mail_timeout), "SECRET_KEY": "chaos"}
        started = time.monotonic()
        finished = subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "lms", "run-due", "--json"],
                                  cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
        elapsed = time.monotonic() - started
        counts = json.loads(finished.stdout)
        with app.app_context():
            errors = Counter(db.session.scalars(sa.select(OutboxEmail.last_error)).all())
            status = db.session.scalar(sa.select(User.status).where(User.email == "leaving@example.com"))
            db.session.remove()
    finally:
        drop()
    print(f"backend                  {'postgresql' if args.database_url else 'sqlite'}")
    print(f"lms run-due returned in  {elapsed:.1f} s (MAIL_TIMEOUT {args.mail_timeout:g} s, "
          f"MAIL_CONNECTIONS {os.environ.get('MAIL_CONNECTIONS', 4)})")
    print(f"emails retrying          {counts['emails_retrying']} of {args.emails}")
    print(f"rows' last error         {dict(errors)}")
    print(f"deactivation due         {status.value}")


def check_import_kill(args, workdir):
    from lms.accounts.models import User
    from lms.enrollment.rosters.jobs import create_import_job
    from lms.enrollment.rosters.models import ImportJob

    url, drop = fresh_database(args.database_url, workdir)
    roster = "\n".join(f"Last{number}, First{number}, person{number}@example.com" for number in range(args.rows))
    try:
        app, _ = seed(url, workdir, 0)
        environment = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "chaos", "LMS_SCHEDULER_INTERVAL_SECONDS": "1"}

        def new_job(text):
            with app.app_context():
                job = create_import_job(text.encode(), source="paste", actor=None, now=datetime.now(timezone.utc))
                db.session.commit()
                return job.id

        def job_state(job_id):
            with app.app_context():
                job = db.session.get(ImportJob, job_id)
                state = (job.status.value, job.rows_processed, job.created_count, job.skipped_count, job.failure_message)
                db.session.remove()
                return state

        def users():
            with app.app_context():
                number = db.session.scalar(sa.select(sa.func.count(sa.distinct(User.email))))
                db.session.remove()
                return number

        log = open(workdir / "scheduler.log", "ab")
        job_id = new_job(roster)
        scheduler = start_scheduler(environment, log)
        while job_state(job_id)[1] < 5000:
            time.sleep(0.2)
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait()
        killed_at = job_state(job_id)
        restarted = time.monotonic()
        scheduler = start_scheduler(environment, log)
        while job_state(job_id)[0] not in ("finished", "failed"):
            time.sleep(0.2)
        resumed_in = time.monotonic() - restarted
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=30)
        resumed = job_state(job_id)

        raced_id = new_job(roster.replace("person", "raced"))
        racers = [start_scheduler(environment, log) for _ in range(2)]
        while job_state(raced_id)[0] not in ("finished", "failed"):
            time.sleep(0.2)
        for racer in racers:
            racer.send_signal(signal.SIGTERM)
            racer.wait(timeout=30)
        raced = job_state(raced_id)
        accounts = users()
    finally:
        drop()
    print(f"backend                  {'postgresql' if args.database_url else 'sqlite'}")
    print(f"killed at                rows written {killed_at[1]:,} of {args.rows:,}")
    print(f"after the restart        {resumed[0]} in {resumed_in:.1f} s: created {resumed[2]:,}, "
          f"skipped {resumed[3]:,}, failure {resumed[4]!r}")
    print(f"two schedulers, one job  {raced[0]}: created {raced[2]:,}, skipped {raced[3]:,}, failure {raced[4]!r}")
    print(f"accounts                 {accounts:,} distinct emails (expected {2 * args.rows:,})")


def received_so_far(record):
    return len(record.read_text().split()) if record.exists() else 0


def twice_per_kill(lines, boundaries):
    """How many repeated messages had their first copy accepted before each kill (and after the
    kill before): the ones that kill caught accepted but not yet recorded."""
    first_seen, repeated = {}, set()
    for position, message_id in enumerate(lines):
        if message_id in first_seen:
            repeated.add(message_id)
        else:
            first_seen[message_id] = position
    counts = [0] * len(boundaries)
    for message_id in repeated:
        kill = bisect.bisect_right(boundaries, first_seen[message_id])
        if kill < len(counts):
            counts[kill] += 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hang", action="store_true", help="an SMTP server that never answers")
    parser.add_argument("--mail-timeout", type=float, default=30.0)
    parser.add_argument("--import-kill", action="store_true", help="an import job killed mid-way, and raced")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--emails", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=None, help="random seed for the kill moments")
    parser.add_argument("--max-wait", type=float, default=4.0, help="longest run before a kill, in seconds")
    args = parser.parse_args()
    chance = random.Random(args.seed)

    workdir = Path(tempfile.mkdtemp(prefix="lms-chaos-"))
    if args.hang:
        return check_hang(args, workdir)
    if args.import_kill:
        return check_import_kill(args, workdir)
    url, drop = fresh_database(args.database_url, workdir)
    record = workdir / "received.txt"
    sink = subprocess.Popen([sys.executable, str(ROOT / "bench" / "smtp_sink.py"), "--record", str(record)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(sink.stdout.readline())
    try:
        app, expected = seed(url, workdir, args.emails)
        environment = {**os.environ, "DATABASE_URL": url, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port),
                       "LMS_SCHEDULER_INTERVAL_SECONDS": "1", "SECRET_KEY": "chaos"}
        log = open(workdir / "scheduler.log", "ab")
        kills = []
        for _ in range(args.kills):
            scheduler = start_scheduler(environment, log)
            wait = chance.uniform(1.0, args.max_wait)  # the app takes about 1 s to start
            time.sleep(wait)
            scheduler.send_signal(signal.SIGKILL)
            scheduler.wait()
            time.sleep(0.2)  # the sink may still be answering the last message the killed process sent
            kills.append((round(wait, 2), received_so_far(record)))
        restarted = time.monotonic()
        scheduler = start_scheduler(environment, log)
        drained = None
        while time.monotonic() - restarted < 300:
            counts = outbox_counts(app)
            if not counts.get(OutboxStatus.queued):
                drained = time.monotonic() - restarted
                break
            time.sleep(0.5)
        stop_started = time.monotonic()
        scheduler.send_signal(signal.SIGTERM)
        try:
            scheduler.wait(timeout=30)
            stop_seconds = time.monotonic() - stop_started
        except subprocess.TimeoutExpired:
            scheduler.kill()
            stop_seconds = None
        counts = outbox_counts(app)
    finally:
        sink.stdin.close()
        sink.wait(timeout=10)
        drop()

    lines = record.read_text().split() if record.exists() else []
    received = Counter(lines)
    twice = sum(number - 1 for number in received.values() if number > 1)
    per_kill = twice_per_kill(lines, [received for _, received in kills])
    print(f"backend                  {'postgresql' if args.database_url else 'sqlite'}")
    print(f"emails queued            {len(expected)}")
    print(f"kills (after s, received so far) {kills}")
    print(f"received unique          {len(set(received) & expected)}")
    print(f"sent twice               {twice}  (at most {len(kills)} kills x MAIL_CONNECTIONS allowed)")
    print(f"  by kill                {per_kill}")
    print(f"lost                     {len(expected - set(received))}")
    print(f"left stuck               {sum(number for status, number in counts.items() if status != OutboxStatus.sent)}")
    print(f"outbox empty after       {f'{drained:.1f} s' if drained is not None else 'not within 300 s'} from the last restart")
    print(f"SIGTERM to exit          {f'{stop_seconds:.1f} s' if stop_seconds is not None else 'did not exit in 30 s'}")


if __name__ == "__main__":
    main()
