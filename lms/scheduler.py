"""APScheduler wiring only: one short interval job that runs lms.due_work.run_due.

The database rows are the truth: the job asks what is due at each tick, so nothing is missed
while the process is down, and several processes can share the work (rows are claimed).
"""
import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from lms.clock import utcnow

log = logging.getLogger(__name__)


def run_due_job(app):
    from lms.due_work import run_due
    from lms.extensions import db

    with app.app_context():
        try:
            counts = run_due(now=utcnow())
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("due work failed; it will be retried at the next tick")
            return
        if any(value for key, value in counts.items() if key != "emails_held"):
            log.info("due work done: %s", counts)


def build_scheduler(app, *, blocking=False):
    scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = scheduler_class(timezone="UTC")
    scheduler.add_job(
        run_due_job,
        "interval",
        seconds=app.config["LMS_SCHEDULER_INTERVAL_SECONDS"],
        args=[app],
        id="run_due",
        next_run_time=utcnow(),  # catch up at start with what fell due while down
        max_instances=1,
        coalesce=True,
    )
    return scheduler
