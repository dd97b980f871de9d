"""Dispatch benchmark: N queued invitation emails sent to a local SMTP server (aiosmtpd).

Compares the outbox dispatcher (claim, render in the invitee's language, send over one
connection, record) with a bare smtplib loop sending the same number of messages over one
connection, measured in the same run against the same server.

    .venv/bin/python bench/dispatch.py [--emails 5000] [--database-url URL]

Without --database-url it uses a fresh SQLite file; with a PostgreSQL URL it works in a
schema of its own and drops it afterwards.
"""
import argparse
import secrets
import smtplib
import socket
import sys
import tempfile
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402

from lms import create_app  # noqa: E402
from lms.config import config_for_testing, normalize_database_url  # noqa: E402
from lms.enrollment.invitations import invite_people  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.notifications.dispatcher import dispatch_due_emails  # noqa: E402


class CountingHandler:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        engine_options = {"connect_args": {"options": f"-csearch_path={schema}"}}
    else:
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    config = config_for_testing(str(workdir), url)
    config.TESTING = False
    config.SQLALCHEMY_ENGINE_OPTIONS = {**config.SQLALCHEMY_ENGINE_OPTIONS, **engine_options}
    return create_app(config), url, schema


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=5000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-"))
    app, url, schema = make_app(args.database_url, workdir)
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    app.extensions["mail"].server, app.extensions["mail"].port = "127.0.0.1", port
    now = datetime.now(timezone.utc)
    try:
        with app.app_context():
            db.create_all()
            emails = [f"learner{number}@example.com" for number in range(args.emails)]
            for start in range(0, len(emails), 1000):
                invite_people(emails[start:start + 1000], actor=None, now=now, message="Welcome aboard!")
            db.session.commit()

            # The same message sizes for the baseline: render one invitation as the dispatcher will.
            from lms.notifications.models import OutboxEmail
            from lms.notifications.render import render_email

            sample = render_email(db.session.scalars(sa.select(OutboxEmail).limit(1)).one())

            baseline = bare_smtplib(port, args.emails, sample.text, sample.html)
            baseline_count = handler.count

            start = time.perf_counter()
            report = dispatch_due_emails(now=now)
            elapsed = time.perf_counter() - start
            delivered = handler.count - baseline_count
            db.session.remove()
    finally:
        controller.stop()
        if schema:
            with sa.create_engine(url).begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))

    backend = "postgresql" if args.database_url else "sqlite"
    bare_rate = args.emails / baseline
    rate = report.sent / elapsed
    print(f"backend               {backend}")
    print(f"emails                {args.emails}")
    print(f"bare smtplib loop     {baseline:.2f} s  {bare_rate:,.0f} emails/s")
    print(f"outbox dispatcher     {elapsed:.2f} s  {rate:,.0f} emails/s  (sent {report.sent}, delivered {delivered}, failed {report.failed})")
    print(f"dispatcher / bare     {rate / bare_rate:.0%}  (target: at least 80%)")


if __name__ == "__main__":
    main()
