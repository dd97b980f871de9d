"""Due work through its three doors: the service, the scheduler's job and `lms run-due`."""
import json
from datetime import date

from sqlalchemy import select

from lms.accounts.models import User, UserStatus
from lms.clock import utcnow
from lms.due_work import run_due
from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.scheduler import build_scheduler, run_due_job
from lms.workers import new_worker, working
from tests.conftest import user_of, wait_until


def test_run_due_reports_what_it_did_and_finds_nothing_the_second_time(app, make_user, now):
    make_user(deactivate_on=now.date())
    make_user(deactivate_on=date(2026, 12, 31))
    assert run_due(now=now)["deactivated_users"] == 1
    assert run_due(now=now)["deactivated_users"] == 0


def test_the_scheduler_job_does_work_that_fell_due_while_nothing_ran(app, make_user):
    user = make_user(deactivate_on=date(2000, 1, 1))
    with working() as worker:
        run_due_job(app, "changes", worker)  # commits in its own app context, as in the scheduler thread
    db.session.expire_all()
    assert db.session.scalar(select(User.status).where(User.id == user.id)) == UserStatus.deactivated


def test_the_scheduler_runs_each_kind_of_due_work_at_start_then_at_each_interval(app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_SCHEDULER_INTERVAL_SECONDS", 45)
    with working() as worker:
        scheduler = build_scheduler(app, worker)
    jobs = scheduler.get_jobs()
    assert sorted(job.args[1] for job in jobs) == ["changes", "emails", "imports"]
    for job in jobs:
        assert job.func is run_due_job and job.args[2] is worker
        assert job.trigger.interval.total_seconds() == 45
        assert job.max_instances == 1 and job.coalesce


def test_a_hanging_smtp_server_holds_up_no_other_due_work(app, make_user, hanging_smtp_server, monkeypatch):
    """The scheduler runs emails, state changes and imports as separate jobs: while the email
    job waits on a server that never answers, an account due for deactivation is deactivated."""
    monkeypatch.setitem(app.config, "MAIL_TIMEOUT", 60)
    invite_people(["ann@example.com"], actor=None, now=utcnow(), message="")
    db.session.commit()
    leaving = make_user("leaving@example.com", deactivate_on=date(2000, 1, 1))
    worker = new_worker(app).register()
    scheduler = build_scheduler(app, worker)
    scheduler.start()
    try:
        assert hanging_smtp_server.connected.wait(timeout=30)  # the email job is stuck in the greeting
        deactivated = wait_until(lambda: user_of(leaving.email).status == UserStatus.deactivated)
        assert deactivated, "the deactivation waited behind the hanging SMTP server"
    finally:
        worker.stopping.set()
        scheduler.shutdown(wait=False)
        hanging_smtp_server.stop()  # the stuck connection ends at once
        worker.stop()


def test_the_scheduler_is_not_started_by_the_test_app(app):
    assert "lms_scheduler" not in app.extensions


def test_run_due_command_at_a_given_time(app, runner, make_user):
    make_user("leaving@example.com", deactivate_on=date(2026, 6, 1))
    early = runner.invoke(args=["lms", "run-due", "--at", "2026-05-31T23:59", "--json"])
    on_time = runner.invoke(args=["lms", "run-due", "--at", "2026-06-01T00:00+00:00", "--json"])
    assert json.loads(early.output)["deactivated_users"] == 0
    report = json.loads(on_time.output)
    assert (report["at"], report["deactivated_users"]) == ("2026-06-01T00:00:00+00:00", 1)


def test_run_due_command_refuses_a_bad_time_with_exit_1(app, runner):
    result = runner.invoke(args=["lms", "run-due", "--at", "tomorrow"])
    assert result.exit_code == 1
    assert "not an ISO date-time" in result.output
