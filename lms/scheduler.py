"""APScheduler wiring only: one interval job per kind of due work (lms.due_work).

The database rows are the truth: each job asks what is due at each tick, so nothing is missed
while the process is down, and several processes can share the work (rows are claimed by
this process's worker, lms.workers). The kinds run side by side, so emails stuck on a
hanging SMTP server never hold up deactivations, expiries or imports.
"""
import atexit
import logging
import os
import signal
import sys
import threading

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from lms.clock import utcnow

log = logging.getLogger(__name__)


class RunningJobs:
    """How many jobs are running now, so that a stop can wait for them (a little)."""

    def __init__(self):
        self._count = 0
        self._changed = threading.Condition()

    def __enter__(self):
        with self._changed:
            self._count += 1

    def __exit__(self, *exc_info):
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def wait_idle(self, timeout) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout=timeout)


def run_due_job(app, name, worker, running=None):
    from lms.due_work import DUE_WORK
    from lms.extensions import db

    if worker.stopping.is_set():
        return
    with running or RunningJobs(), app.app_context():
        try:
            counts = DUE_WORK[name](now=utcnow(), worker=worker)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("due work (%s) failed; it will be retried at the next tick", name)
            return
        finally:
            db.session.remove()
        if any(value for key, value in counts.items() if key != "emails_held"):
            log.info("due work done (%s): %s", name, counts)


def build_scheduler(app, worker, running=None):
    """A BackgroundScheduler running each kind of due work every LMS_SCHEDULER_INTERVAL_SECONDS."""
    from lms.due_work import DUE_WORK

    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(len(DUE_WORK))})
    for name in DUE_WORK:
        scheduler.add_job(
            run_due_job,
            "interval",
            seconds=app.config["LMS_SCHEDULER_INTERVAL_SECONDS"],
            args=[app, name, worker, running],
            id=f"due_{name}",
            next_run_time=utcnow(),  # catch up at start with what fell due while down
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    return scheduler


def start_worker(app):
    """This process's worker: registered, beating, and (on a clean exit) stopped."""
    from lms.workers import new_worker

    with app.app_context():
        worker = new_worker(app).register()
    worker.start_heartbeat(app.config["LMS_WORKER_TIMEOUT_SECONDS"] / 3)
    return worker


def start_in_web_process(app):
    """`make run`: the scheduler in a thread of the web server's process."""
    worker = start_worker(app)
    scheduler = build_scheduler(app, worker)
    scheduler.start()
    atexit.register(lambda: (worker.stopping.set(), scheduler.shutdown(wait=False), worker.stop()))
    return scheduler


STOP_SECONDS = 10


def stop_on_signal(app):
    """`lms scheduler`: run until SIGTERM or SIGINT, then stop within STOP_SECONDS: claim nothing
    more, let the jobs finish what is in flight (at most STOP_SECONDS - 2 s), release every lease
    (the worker's row goes) and exit, abandoning a job that is still running (its work
    is uncommitted or fenced, so the next worker redoes or resumes it)."""
    worker = start_worker(app)
    running = RunningJobs()
    scheduler = build_scheduler(app, worker, running)

    def stop(signum, frame):
        worker.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
    print(f"Scheduler running as {worker.id}: due work every {app.config['LMS_SCHEDULER_INTERVAL_SECONDS']} s; "
          "Ctrl+C to stop.", flush=True)
    while not worker.stopping.wait(1):
        pass
    print("Stopping: finishing the emails in flight, releasing leases.", flush=True)
    scheduler.shutdown(wait=False)
    idle = running.wait_idle(STOP_SECONDS - 2)
    worker.stop()
    print("Scheduler stopped." if idle else "Scheduler stopped; a job still running was abandoned to the next worker.",
          flush=True)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the executor's threads are not daemons: a job still running must not hold the exit
