"""Workers and their leases (R10): who holds a claimed outbox row or import job, and whether it
still lives.

A worker (a scheduler process, an `lms run-due`, a page's import thread) registers a row and
renews it from a heartbeat thread, on the real clock. A claim names its worker (`locked_by`);
it holds while that worker beats. A worker with no heartbeat for `LMS_WORKER_TIMEOUT_SECONDS`
is gone, and so is one on this host whose process no longer exists (found at once, at the next
claim), so its rows are claimable again without waiting out a fixed lease. A worker that stops
deletes its row, which frees all its leases in one statement.

Writes a worker makes under a lease are fenced: they name the worker in their WHERE clause, so
a worker that lost its lease never records over the new owner's work.
"""
import logging
import os
import secrets
import socket
import threading
from contextlib import contextmanager
from functools import wraps
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Integer, String, delete, insert, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from lms.clock import utcnow
from lms.db_types import UTCDateTime
from lms.extensions import db

log = logging.getLogger(__name__)
FORGET_AFTER = timedelta(days=1)  # rows of workers gone longer than this are deleted


class WorkerHeartbeat(db.Model):
    """One live (or lately live) worker: the owner named by the leases it holds."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime)

    def __repr__(self):
        return f"<WorkerHeartbeat {self.id} beat_at={self.beat_at.isoformat()}>"


class Worker:
    """This process's (or thread's) identity as a lease holder.

    `clock` is the real clock; tests give their own to age heartbeats without waiting.
    """

    def __init__(self, *, timeout: timedelta, clock=utcnow, engine=None, hostname=None, pid=None):
        self.hostname = hostname or socket.gethostname()
        self.pid = pid or os.getpid()
        self.id = f"{self.hostname[:80]}:{self.pid}:{secrets.token_hex(4)}"
        self.timeout = timeout
        self.clock = clock
        self.engine = engine or db.engine
        self.stopping = threading.Event()  # set by SIGTERM/SIGINT: finish what is in flight, claim no more
        self._heartbeat = None
        self._heartbeat_stop = threading.Event()

    def __repr__(self):
        return f"<Worker {self.id}>"

    # Registration and heartbeat run on their own connection and commit at once, so they never
    # wait for (or join) the work's transaction.

    def _new_row(self, now):
        return insert(WorkerHeartbeat).values(id=self.id, hostname=self.hostname, pid=self.pid,
                                              started_at=now, beat_at=now)

    def register(self):
        with self.engine.begin() as connection:
            connection.execute(self._new_row(self.clock()))
        self.forget_gone_workers()
        return self

    def beat(self) -> None:
        """Renew this worker's row; re-create it if another worker took it for gone (it may have
        been frozen): its old leases may have been taken, and fencing keeps those safe."""
        now = self.clock()
        with self.engine.begin() as connection:
            renewed = connection.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.id == self.id)
                                         .values(beat_at=now)).rowcount
            if not renewed:
                log.warning("worker %s was taken for gone; registering again", self.id)
                connection.execute(self._new_row(now))

    def alive_after(self) -> datetime:
        return self.clock() - self.timeout

    def owner_is_gone(self, locked_by_column):
        """SQL: the row is leased to nobody, or to a worker that no longer beats."""
        alive = select(WorkerHeartbeat.id).where(WorkerHeartbeat.beat_at >= self.alive_after())
        return or_(locked_by_column.is_(None), locked_by_column.not_in(alive))

    def forget_gone_workers(self) -> int:
        """Delete the rows of workers of this host whose process has ended (killed, crashed),
        which frees their leases at once, and of any worker gone for more than a day."""
        with self.engine.begin() as connection:
            here = connection.execute(select(WorkerHeartbeat.id, WorkerHeartbeat.pid)
                                      .where(WorkerHeartbeat.hostname == self.hostname,
                                             WorkerHeartbeat.id != self.id)).all()
            ended = [worker_id for worker_id, pid in here if not _process_exists(pid)]
            gone = connection.execute(delete(WorkerHeartbeat).where(
                or_(WorkerHeartbeat.id.in_(ended), WorkerHeartbeat.beat_at < self.clock() - FORGET_AFTER))).rowcount
        if ended:
            log.info("leases of ended workers released: %s", ", ".join(ended))
        return gone

    def start_heartbeat(self, interval: float):
        """Beat every `interval` seconds from a daemon thread until stop()."""

        def beating():
            while not self._heartbeat_stop.wait(interval):
                try:
                    self.beat()
                except Exception:  # the database is away for a moment: the next beat tries again
                    log.exception("worker %s could not renew its heartbeat", self.id)

        self._heartbeat = threading.Thread(target=beating, name=f"heartbeat-{self.id}", daemon=True)
        self._heartbeat.start()
        return self

    def stop(self):
        """Stop beating and delete this worker's row: every lease it still holds is free."""
        self._heartbeat_stop.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join(timeout=5)
        with self.engine.begin() as connection:
            connection.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.id == self.id))


def _process_exists(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def new_worker(app=None, *, clock=utcnow) -> Worker:
    app = app or current_app
    return Worker(timeout=timedelta(seconds=app.config["LMS_WORKER_TIMEOUT_SECONDS"]), clock=clock)


@contextmanager
def working(app=None):
    """A registered worker with its heartbeat for the length of a `with` block."""
    app = app or current_app
    worker = new_worker(app).register()
    worker.start_heartbeat(app.config["LMS_WORKER_TIMEOUT_SECONDS"] / 3)
    try:
        yield worker
    except BaseException:
        db.session.rollback()  # the work's transaction would keep the worker's row from going (SQLite)
        raise
    finally:
        worker.stop()


def with_worker(service):
    """A service taking `worker=`: called without one, it runs under a worker of its own."""

    @wraps(service)
    def call(*args, worker=None, **kwargs):
        if worker is not None:
            return service(*args, worker=worker, **kwargs)
        with working() as worker:
            return service(*args, worker=worker, **kwargs)

    return call
