"""`lms scheduler` as an operator runs it: a process of its own, stopped with SIGTERM (R10)."""
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from lms.clock import utcnow
from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.workers import WorkerHeartbeat
from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parent.parent


def database_url_of(app):
    """The test database as another process reaches it (PostgreSQL: the run's own schema)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}).get("options")
    return f"{url}?options={quote(options)}" if options else url


def scheduler_process(app, smtp_server, log):
    environment = {**os.environ, "DATABASE_URL": database_url_of(app), "SECRET_KEY": "test",
                   "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_server.port),
                   "LMS_SCHEDULER_INTERVAL_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "lms", "scheduler"], cwd=ROOT,
                            env=environment, stdout=log, stderr=subprocess.STDOUT)


def rows(model):
    db.session.expire_all()
    return db.session.scalars(sa.select(model)).all()


def test_sigterm_stops_the_scheduler_within_10_s_with_its_emails_recorded_and_no_lease_left(
        app, smtp_server, tmp_path):
    # The scheduler runs on the real clock: invitations from today (older ones would expire).
    invite_people([f"person{number}@example.com" for number in range(3)], actor=None, now=utcnow(), message="")
    db.session.commit()
    log = tmp_path / "scheduler.log"
    with log.open("wb") as output:
        process = scheduler_process(app, smtp_server, output)
    try:
        started = wait_until(lambda: len(smtp_server.messages) == 3 and len(rows(WorkerHeartbeat)) == 1, timeout=60)
        assert started, log.read_text()
        assert wait_until(lambda: {row.status for row in rows(OutboxEmail)} == {OutboxStatus.sent})
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    finally:
        process.kill()
        process.wait()
    output = log.read_text()
    assert process.returncode == 0, output
    assert "Scheduler stopped." in output
    assert rows(WorkerHeartbeat) == []
    assert {row.locked_by for row in rows(OutboxEmail)} == {None}
