"""Dispatch benchmark: N queued invitation emails sent to a local SMTP server (aiosmtpd).

The SMTP server (aiosmtpd) runs in a child process. Compares the outbox dispatcher (claim, render in the invitee's language, send over one
connection, record) with a bare smtplib loop sending the same number of messages over one
connection, measured in the same run against the same server.

    .venv/bin/python bench/dispatch.py [--emails 5000] [--database-url URL]

Without --database-url it uses a fresh SQLite file; with a PostgreSQL URL it works in a
schema of its own and drops it afterwards.
"""
import argparse
import secrets
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from lms import create_app  # noqa: E402
from lms.config import config_for_testing, normalize_database_url  # noqa: E402
from lms.enrollment.invitations.services import invite_people  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.notifications.dispatcher import dispatch_due_emails  # noqa: E402


class SmtpSink:
    """bench/smtp_sink.py in a child process: a real SMTP server that counts what it accepts."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("smtp_sink.py"))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())

    @property
    def count(self):
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


def bare_smtplib(port, count, body_text, body_html):
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for number in range(count):
            message = EmailMessage()
            message["Subject"] = "Ada Admin invited you to LMS"
            message["From"] = "LMS <no-reply@localhost>"
            message["To"] = f"bare{number}@example.com"
            message.set_content(body_text)
            message.add_alternative(body_html, subtype="html")
            smtp.send_message(message)
    return time.perf_counter() - start


def make_app(database_url, workdir):
    schema = None
    engine_options = {}
    if database_url:
        url = normalize_database_url(database_url)
        schema = f"bench_{secrets.token_hex(4)}"
        with sa.create_engine(url).begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine_options = {"connect_args": {"options": f"-csearch_path={schema} " + __import__("os").environ.get("PGEXTRA", "")}}
    else:
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    config = config_for_testing(str(workdir), url)
    config.TESTING = False
    config.SQLALCHEMY_ENGINE_OPTIONS = {**config.SQLALCHEMY_ENGINE_OPTIONS, **engine_options}
    return create_app(config), url, schema


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both measurements; medians are reported")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    sink = SmtpSink()
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-"))
    app, url, schema = make_app(args.database_url, workdir)
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=sink.port)
    app.extensions["mail"].server, app.extensions["mail"].port = "127.0.0.1", sink.port
    bare_times, dispatch_times, sent, delivered = [], [], 0, 0
    try:
        with app.app_context():
            db.create_all()
            for round_number in range(args.rounds):
                now = datetime.now(timezone.utc)
                emails = [f"round{round_number}.learner{number}@example.com" for number in range(args.emails)]
                for start in range(0, len(emails), 1000):
                    invite_people(emails[start:start + 1000], actor=None, now=now, message="Welcome aboard!")
                db.session.commit()
                # The baseline sends messages of the same size: one invitation rendered as the dispatcher will.
                from lms.notifications.models import OutboxEmail
                from lms.notifications.render import render_email

                sample = render_email(db.session.scalars(sa.select(OutboxEmail).limit(1)).one())
                bare_times.append(bare_smtplib(sink.port, args.emails, sample.text, sample.html))
                before = sink.count
                start = time.perf_counter()
                report = dispatch_due_emails(now=now)
                dispatch_times.append(time.perf_counter() - start)
                sent += report.sent
                delivered += sink.count - before
            db.session.remove()
    finally:
        sink.stop()
        if schema:
            with sa.create_engine(url).begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))

    bare, dispatched = statistics.median(bare_times), statistics.median(dispatch_times)
    bare_rate, rate = args.emails / bare, args.emails / dispatched
    print(f"backend               {'postgresql' if args.database_url else 'sqlite'}")
    print(f"emails per round      {args.emails} ({args.rounds} rounds, medians)")
    print(f"bare smtplib loop     {bare:.2f} s  {bare_rate:,.0f} emails/s")
    print(f"outbox dispatcher     {dispatched:.2f} s  {rate:,.0f} emails/s  (sent {sent}, delivered {delivered})")
    print(f"dispatcher / bare     {rate / bare_rate:.0%}  (target: at least 80%)")


if __name__ == "__main__":
    main()
