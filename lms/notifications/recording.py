"""Recording what the SMTP server said of each email (R10: sent means recorded).

Each outcome goes to the OutcomeRecorder straight from the SMTP thread that got it (the
dispatcher's thread goes on rendering); the recorder's own thread writes it, on a database
connection it keeps, and only then tells the pool that the email is recorded (which lets the
next body go out). While one write is on its way, the outcomes that arrive wait for the next,
so writes group themselves without any email waiting for more than the one write before it. Every write is one statement in
autocommit, fenced by the worker's lease (`locked_by`): a worker that lost its lease records
nothing over the new owner's work.

On PostgreSQL those commits do not wait for the WAL flush: a killed worker loses nothing (the
server has it); only a crash of the database server itself could forget the last fraction of a
second, and those emails would go again with their Message-ID. SQLite's synchronous = NORMAL
is the same trade (lms.extensions).
"""
import logging
import queue
import threading
from dataclasses import dataclass

from sqlalchemy import update

from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.notifications.sealed import SEALED_PASSWORD

log = logging.getLogger(__name__)

OUTBOX = OutboxEmail.__table__
SECRET_CONTEXT_KEYS = (SEALED_PASSWORD, "password")  # "password": a row queued before passwords were sealed
KINDS_WITH_SECRETS = ("account_created",)  # the kinds whose context may hold a secret


@dataclass(frozen=True)
class Failure:
    """What to record of an email that did not go: retry at `next_attempt_at`, or, without one,
    give up (the email ends `failed`)."""
    reason: str
    next_attempt_at: object = None


@dataclass(frozen=True)
class _Item:
    email_id: int
    kind: str
    attempts: int
    context: dict | None
    failure: Failure | None
    outcome: object = None  # the pool's Outcome, released once recorded


class RecordingFailed(Exception):
    pass


class OutcomeRecorder:
    """`expect(emails)` before they are sent, then each outcome arrives through
    `on_outcome` (from the SMTP threads); `record(email, failure)` for what the dispatcher
    itself decides (an email that cannot render); `flush()` waits until all is written (and
    raises what the writing thread met); `close()` at the end. `failure_of(outcome, attempts)`
    says what to record of a failed send."""

    def __init__(self, engine, *, worker_id, now, pool=None, failure_of=None):
        self.connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.postgresql = self.connection.dialect.name == "postgresql"
        if self.postgresql:
            self.connection.exec_driver_sql("SET synchronous_commit TO OFF")
        self.worker_id, self.now, self.pool, self.failure_of = worker_id, now, pool, failure_of
        self._expected = {}  # email id: (id, kind, attempts, context, recipient), read by the SMTP threads
        self.sent = self.retrying = self.failed = 0
        self.errors = []  # "recipient: reason", for the report
        self._items = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self.error = None
        self._sent_sql = None
        self._thread = threading.Thread(target=self._run, name="outbox-recorder", daemon=True)
        self._thread.start()

    def expect(self, emails):
        self._expected = {email.id: (email.id, email.kind, email.attempts, email.context, email.recipient)
                          for email in emails}

    def on_outcome(self, outcome):
        """What an SMTP thread learnt of an email: queued for writing at once."""
        email_id, kind, attempts, context, recipient = self._expected[outcome.email_id]
        failure = None if outcome.error is None else self.failure_of(outcome, attempts)
        self._queue(email_id, kind, attempts, context, recipient, failure, outcome)

    def record(self, email, failure):
        if self.error is not None:
            raise RecordingFailed("the outcomes could not be recorded") from self.error
        self._queue(email.id, email.kind, email.attempts, email.context, email.recipient, failure, None)

    def _queue(self, email_id, kind, attempts, context, recipient, failure, outcome):
        if failure is not None:
            self.errors.append(f"{recipient}: {failure.reason}")
        with self._idle:
            self._pending += 1
        self._items.put(_Item(email_id, kind, attempts, context, failure, outcome))

    def flush(self):
        with self._idle:
            while self._pending and self.error is None:
                self._idle.wait(timeout=1)
        if self.error is not None:
            raise RecordingFailed("the outcomes could not be recorded") from self.error

    def close(self):
        self._items.put(None)
        self._thread.join(timeout=30)
        try:
            if self.postgresql and self.error is None:  # back to the pool as it came
                self.connection.exec_driver_sql("RESET synchronous_commit")
        finally:
            self.connection.close()

    # --- the writing thread ------------------------------------------------------------------

    def _run(self):
        while (first := self._items.get()) is not None:
            items = [first]
            stop = False
            while True:  # everything that came while the last write was on its way
                try:
                    item = self._items.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                items.append(item)
            try:
                self._write(items)
            except Exception as error:  # the database went away: the dispatcher stops
                log.exception("outbox outcomes could not be recorded")
                self.error = error
            finally:
                if self.pool is not None and self.error is None:
                    self.pool.recorded([item.outcome for item in items if item.outcome is not None])
                with self._idle:
                    self._pending -= len(items)
                    self._idle.notify_all()
            if stop or self.error is not None:
                return

    def _write(self, items):
        sent = [item for item in items if item.failure is None]
        plain = [item.email_id for item in sent if not _holds_secrets(item)]
        recorded = self._mark_sent(plain) if plain else 0
        for item in sent:
            if _holds_secrets(item):  # sent and wiped in one statement: the password never outlives the send
                recorded += self._update(item.email_id, status=OutboxStatus.sent, sent_at=self.now,
                                         attempts=OUTBOX.c.attempts + 1, locked_by=None, last_error=None,
                                         context=without_secrets(item.context))
        if recorded != len(sent):
            log.warning("%s of %s sent emails were no longer leased to %s: their new owner records them",
                        len(sent) - recorded, len(sent), self.worker_id)
        self.sent += len(sent)
        for item in items:
            if item.failure is not None:
                self._record_failure(item)

    def _record_failure(self, item):
        failure = item.failure
        values = {"attempts": item.attempts + 1, "last_error": failure.reason[:2000], "locked_by": None}
        if failure.next_attempt_at is None:
            values.update(status=OutboxStatus.failed, context=without_secrets(item.context))
            self.failed += 1
        else:
            values["next_attempt_at"] = failure.next_attempt_at
            self.retrying += 1
        self._update(item.email_id, **values)

    def _update(self, email_id, **values):
        return self.connection.execute(update(OUTBOX).where(OUTBOX.c.id == email_id,
                                                            OUTBOX.c.locked_by == self.worker_id)
                                       .values(**values)).rowcount

    def _mark_sent(self, email_ids) -> int:
        """UPDATE the rows still leased to this worker to sent; how many were. Written in the
        driver's own SQL: run once per write, SQLAlchemy's statement execution would cost more
        than the database does (docs/performance.md)."""
        dialect = self.connection.dialect
        if self._sent_sql is None:
            sent_at = OUTBOX.c.sent_at.type.bind_processor(dialect)(self.now)
            self._sent_sql = ("?" if dialect.paramstyle == "qmark" else "%s",
                              (OutboxStatus.sent.value, sent_at, self.worker_id))
        mark, values = self._sent_sql
        sql = (f"UPDATE outbox_emails SET status = {mark}, sent_at = {mark}, attempts = attempts + 1, "
               f"locked_by = NULL, last_error = NULL WHERE locked_by = {mark} "
               f"AND id IN ({', '.join([mark] * len(email_ids))})")
        return self.connection.exec_driver_sql(sql, (*values, *email_ids)).rowcount


def _holds_secrets(item):
    return item.kind in KINDS_WITH_SECRETS and has_secrets(item.context)


def has_secrets(context):
    return any(key in (context or {}) for key in SECRET_CONTEXT_KEYS)


def without_secrets(context):
    return {key: value for key, value in (context or {}).items() if key not in SECRET_CONTEXT_KEYS}
