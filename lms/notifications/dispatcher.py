"""Sending due outbox emails over SMTP (R10).

Rows are claimed atomically (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: one UPDATE, as
SQLite runs one writer at a time) under a lease naming the worker (lms.workers), so several
scheduler processes can share the work and a dead one's rows go to the next worker at once.
Emails go out over a few SMTP connections at once (lms.notifications.smtp_pool), and each is
recorded as sent, and committed, as soon as the server has accepted it: no more emails are
handed to the connections than the connections themselves, so a crash can repeat at most
the `MAIL_CONNECTIONS` messages in flight at that instant (each keeps its stable Message-ID,
so a receiving server can drop the repeat). The outcomes are written on a thread of their own
(lms.notifications.recording) while this one renders and sends; those that arrive together
share a write.
Failures are retried with back-off; permanent refusals (5xx) and the last attempt end `failed`
with the server's answer. Every write names the worker (fencing): one that lost its lease
records nothing over the new owner's work.
"""
import logging
import smtplib
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr

from flask import current_app
from flask_mail import sanitize_address
from sqlalchemy import and_, or_, select, update

from lms.extensions import db
from lms.notifications.mime import Envelope, address, mailbox, multipart_alternative
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.notifications.recording import Failure, OutcomeRecorder
from lms.notifications.render import Links, hooks_of, render_email
from lms.notifications.smtp_pool import SmtpPool
from lms.workers import with_worker

log = logging.getLogger(__name__)

BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
MAX_ATTEMPTS = len(BACKOFF) + 1
BATCH_SIZE = 200
NO_MAIL_SERVER = "not sent: no mail server (set MAIL_SERVER)"
WAIT_FOR_OUTCOMES = 1.0  # seconds between looks at the recorder while waiting for the server


@dataclass
class DispatchReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0  # no mail server configured
    errors: list[str] = field(default_factory=list)
    server_unreachable: bool = False  # a whole batch found no server: the rest waits for the next run

    def as_dict(self):
        return {"emails_sent": self.sent, "emails_retrying": self.retrying,
                "emails_failed": self.failed, "emails_held": self.held}


def _due(now, worker=None):
    due = and_(OutboxEmail.status == OutboxStatus.queued, OutboxEmail.next_attempt_at <= now)
    return and_(due, worker.owner_is_gone(OutboxEmail.locked_by)) if worker is not None else due


def claim_due_emails(*, now, worker, limit=BATCH_SIZE) -> list[int]:
    """Lease up to `limit` due emails to `worker` and commit the lease; returns their ids."""
    candidates = (select(OutboxEmail.id).where(_due(now, worker))
                  .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id).limit(limit))
    if db.session.get_bind().dialect.name == "postgresql":
        ids = db.session.scalars(candidates.with_for_update(skip_locked=True)).all()
        if ids:
            db.session.execute(update(OutboxEmail).where(OutboxEmail.id.in_(ids)).values(locked_by=worker.id))
    else:
        ids = db.session.scalars(
            update(OutboxEmail)
            .where(OutboxEmail.id.in_(candidates.scalar_subquery()), _due(now, worker))
            .values(locked_by=worker.id)
            .returning(OutboxEmail.id)
        ).all()
    db.session.commit()
    return sorted(ids)


@with_worker
def dispatch_due_emails(*, now, worker, batch_size=BATCH_SIZE, max_batches=None) -> DispatchReport:
    """Send every email due at `now`; commits as it goes (the rows are the truth). Without a
    worker, one is registered for the call."""
    if not current_app.config.get("MAIL_SERVER"):
        return DispatchReport(held=_hold_without_server(now))
    report = DispatchReport()
    sending = _Sending(current_app, now, worker)
    # The batch's rows stay loaded across the claim's commits (they are leased to this
    # worker, and _preload reads the rest afresh for every batch).
    session = db.session()
    session.expire_on_commit = False
    config = current_app.config
    recorder = None
    try:
        worker.forget_gone_workers()
        with SmtpPool(current_app.extensions["mail"], config["MAIL_CONNECTIONS"], timeout=config["MAIL_TIMEOUT"]) as pool:
            recorder = sending.recorder = OutcomeRecorder(
                db.engine, worker_id=worker.id, now=now, pool=pool,
                failure_of=lambda outcome, attempts: _failure_of(outcome, attempts, sending))
            pool.on_outcome = recorder.on_outcome
            batches = 0
            while (max_batches is None or batches < max_batches) and not worker.stopping.is_set():
                ids = claim_due_emails(now=now, worker=worker, limit=batch_size)
                if not ids:
                    break
                batches += 1
                emails = db.session.scalars(select(OutboxEmail).where(OutboxEmail.id.in_(ids))
                                            .order_by(OutboxEmail.id)
                                            .execution_options(populate_existing=True)).all()
                _send_batch(emails, sending, pool, report)
                if report.server_unreachable:
                    log.warning("the SMTP server could not be reached; the other due emails wait for the next run")
                    break
    finally:
        if recorder is not None:
            recorder.close()
            report.sent, report.retrying, report.failed = recorder.sent, recorder.retrying, recorder.failed
            report.errors = recorder.errors
        db.session.rollback()
        _release(worker)
        session.expire_on_commit = True
    return report


def _release(worker):
    """Leased rows this run did not get to (stopped, or the server unreachable) are free again."""
    db.session.execute(update(OutboxEmail)
                       .where(OutboxEmail.locked_by == worker.id, OutboxEmail.status == OutboxStatus.queued)
                       .values(locked_by=None).execution_options(synchronize_session=False))
    db.session.commit()


def _hold_without_server(now):
    held = db.session.execute(
        update(OutboxEmail)
        .where(_due(now), OutboxEmail.locked_by.is_(None),
               or_(OutboxEmail.last_error.is_(None), OutboxEmail.last_error != NO_MAIL_SERVER))
        .values(last_error=NO_MAIL_SERVER)
    ).rowcount
    db.session.commit()
    return held


def message_id_domain(app) -> str:
    return app.config["BASE_URL"].split("//", 1)[-1].split("/", 1)[0].split(":")[0] or "localhost"


class _Sending:
    """What every email of one dispatch run shares: the time, the sender, the link builder."""

    def __init__(self, app, now, worker):
        sender = app.config["MAIL_DEFAULT_SENDER"]
        self.now = now
        self.worker = worker
        self.recorder = None  # the run's OutcomeRecorder
        self.timeout = app.config["MAIL_TIMEOUT"]
        self.links = Links(app)
        self.from_header = address(sender)
        self.envelope_from = parseaddr(sanitize_address(sender))[1]
        self.domain = message_id_domain(app)

    def message_id(self, email) -> str:
        """Stable per row: should a crash make us send a row twice, mail servers see one message."""
        return f"<outbox-{email.id}@{self.domain}>"

    def envelope(self, email, merge) -> Envelope:
        rendered = render_email(email, self.links, merge=merge)
        recipient = mailbox(email.recipient)
        data = multipart_alternative(sender=self.from_header, recipient=recipient, subject=rendered.subject,
                                     text=rendered.text, html=rendered.html, message_id=self.message_id(email),
                                     timestamp=self.now.timestamp())
        return Envelope(sender=self.envelope_from, recipient=recipient, data=data)


def _preload(emails, now):
    """Load what the templates need for the whole batch in a few queries (not one per email):
    each email kind says what it reads (EmailKind.preload)."""
    keep = []
    for preload, rows in hooks_of(emails, "preload").items():
        keep += preload(rows, now)
    return keep  # held by the caller so the identity map keeps them


def _send_batch(emails, sending, pool, report):
    """Render the emails and hand them to the pool, never more at once than it has connections
    (rendering the next ones while those are sent), recording each outcome as it comes."""
    preloaded = _preload(emails, sending.now)  # noqa: F841
    by_id = {email.id: email for email in emails}
    to_render = deque(emails)
    rendered = deque()  # (email id, envelope), ready for the next free connection
    in_flight = 0
    went_through = connection_lost = False
    pool.start_round()
    merge = {}  # each distinct email of the batch is rendered once (render_email)
    sent = []
    recorder = sending.recorder
    recorder.expect(emails)
    while True:
        stopping = sending.worker.stopping.is_set()
        # Twice as many as connections: each can prepare its next email (MAIL, RCPT, DATA) while
        # its last one is recorded; the pool holds the bodies back (lms.notifications.smtp_pool).
        while in_flight < 2 * pool.size and rendered and not stopping:
            pool.submit(*rendered.popleft())
            in_flight += 1
        # Render ahead first: the outcomes that come in meanwhile then share one write.
        if to_render and len(rendered) < pool.size and not stopping:
            _render_next(to_render.popleft(), sending, merge, rendered)
            continue
        if not in_flight:
            break
        outcomes = pool.outcomes(wait_for=1, timeout=WAIT_FOR_OUTCOMES)
        in_flight -= len(outcomes)
        went_through |= any(outcome.error is None for outcome in outcomes)
        connection_lost |= any(outcome.connection_lost for outcome in outcomes)
        # The recorder has each outcome already (from the SMTP thread): here, only the counting.
        sent += [by_id[outcome.email_id] for outcome in outcomes if outcome.error is None]
        if not outcomes or recorder.error is not None:
            recorder.flush()  # raises if the database went away meanwhile
    recorder.flush()
    report.server_unreachable = connection_lost and not went_through
    _after_sent(sent, sending)


def _after_sent(emails, sending):
    """What the email kinds record of their sent emails (a session roster's "sent" time), once
    per batch: it never decides whether an email goes again, the outbox row does. A crash
    mid-batch leaves those times unset for the emails it had sent."""
    for on_sent, sent in hooks_of(emails, "on_sent").items():
        on_sent(sent, sending.now, sending.recorder.connection)  # the recorder is idle: flushed


def _render_next(email, sending, merge, rendered):
    try:
        rendered.append((email.id, sending.envelope(email, merge)))
    except Exception as error:  # a template or data problem: this email can never render
        log.exception("outbox email %s could not be rendered", email.id)
        sending.recorder.record(email, Failure(f"could not render: {error}"))  # it never will: no retry


def _failure_of(outcome, attempts, sending):
    """What to record of a failed send (`attempts` before this one): retried with back-off
    unless retrying is pointless or this was the last attempt."""
    reason, permanent = _reason_of(outcome.error, sending.timeout)
    attempts += 1
    if permanent or attempts >= MAX_ATTEMPTS:
        return Failure(reason)
    return Failure(reason, next_attempt_at=sending.now + BACKOFF[attempts - 1])


def _reason_of(error, timeout):
    """(what to record, whether retrying is pointless) for a failed send."""
    if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):  # smtplib wraps it
        return f"SMTP server did not answer within {timeout:g} s", False
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
        return _smtp_text(code, text), code >= 500
    if isinstance(error, smtplib.SMTPResponseException):
        return _smtp_text(error.smtp_code, error.smtp_error), error.smtp_code >= 500
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return f"the mail server cannot deliver to this address: {error}", True
    return f"SMTP server unavailable: {error}", False


def _smtp_text(code, text):
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return f"{code} {text}"
