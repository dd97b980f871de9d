"""R10 and R4 across a restart: an email that fell due while nothing ran goes out once."""
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select

from lms import create_app
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.programs.cascade import assign_group
from lms.scheduler import run_due_job, start_worker
from tests.pages import utcnow


def restarted(app):
    """A new process's app on the same database and SMTP server, as after a restart."""
    second = create_app(SimpleNamespace(**app.config))
    mail_state, first_state = second.extensions["mail"], app.extensions["mail"]
    mail_state.server, mail_state.port = first_state.server, first_state.port
    return second


def test_an_email_due_while_the_app_was_down_goes_out_once_after_the_restart(
        app, smtp_server, admin, make_user, make_group, make_session):
    real_now = utcnow()
    learner = make_user("ann@example.com")
    group = make_group("Night shift", members=[learner])
    session = make_session(starts_at=real_now - timedelta(hours=1), ends_at=real_now + timedelta(days=1))
    # Two hours ago the session was still to come: its email was scheduled for its start...
    assign_group(session, group, actor=admin, now=real_now - timedelta(hours=2))
    db.session.commit()
    # ...and nothing ran since: the first process is gone.
    db.engine.dispose()
    assert smtp_server.to("ann@example.com") == []

    second = restarted(app)
    worker = start_worker(second)
    try:
        run_due_job(second, "emails", worker)  # the scheduler's email job, as it runs first thing at start
        run_due_job(second, "emails", worker)  # a second tick finds nothing left to send
    finally:
        worker.stop()

    messages = smtp_server.to("ann@example.com")
    assert len(messages) == 1
    assert session.program.title in messages[0]["Subject"]
    db.session.expire_all()
    email = db.session.scalar(select(OutboxEmail).where(OutboxEmail.recipient == "ann@example.com"))
    assert email.status == OutboxStatus.sent
    with second.app_context():
        db.engine.dispose()
