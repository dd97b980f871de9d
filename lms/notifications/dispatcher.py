"""Sending due outbox emails over SMTP (R10).

Rows are claimed atomically (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: one UPDATE, as
SQLite runs one writer at a time) with a lease, so several scheduler processes can share the
work and a crashed one's rows come back after the lease.
Emails go out over a few SMTP connections at once (lms.notifications.smtp_pool).
Failures are retried with back-off; permanent refusals (5xx) and the last attempt end `failed`
with the server's answer.
"""
import logging
import smtplib
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr

from flask import current_app
from flask_mail import sanitize_address
from sqlalchemy import and_, or_, select, update

from lms.extensions import db
from lms.notifications.mime import Envelope, address, mailbox, multipart_alternative
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.notifications.render import Links, hooks_of, render_email
from lms.notifications.smtp_pool import SmtpPool

log = logging.getLogger(__name__)

BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=10)
BATCH_SIZE = 200
COMMIT_EVERY = 25  # sent emails are recorded at least this often: a crash resends at most these
NO_MAIL_SERVER = "not sent: no mail server (set MAIL_SERVER)"
SECRET_CONTEXT_KEYS = ("password",)
KINDS_WITH_SECRETS = ("account_created",)  # the kinds whose context may hold a secret


@dataclass
class DispatchReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    held: int = 0  # no mail server configured
    errors: list[str] = field(default_factory=list)

    def as_dict(self):
        return {"emails_sent": self.sent, "emails_retrying": self.retrying,
                "emails_failed": self.failed, "emails_held": self.held}


def _due(now):
    return and_(
        OutboxEmail.status == OutboxStatus.queued,
        OutboxEmail.next_attempt_at <= now,
        or_(OutboxEmail.locked_until.is_(None), OutboxEmail.locked_until < now),
    )


def claim_due_emails(*, now, limit=BATCH_SIZE) -> list[int]:
    """Lease up to `limit` due emails to this worker and commit the lease; returns their ids."""
    candidates = select(OutboxEmail.id).where(_due(now)).order_by(OutboxEmail.next_attempt_at, OutboxEmail.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        ids = db.session.scalars(candidates.with_for_update(skip_locked=True)).all()
        if ids:
            db.session.execute(update(OutboxEmail).where(OutboxEmail.id.in_(ids)).values(locked_until=now + LEASE))
    else:
        ids = db.session.scalars(
            update(OutboxEmail)
            .where(OutboxEmail.id.in_(candidates.scalar_subquery()), _due(now))
            .values(locked_until=now + LEASE)
            .returning(OutboxEmail.id)
        ).all()
    db.session.commit()
    return sorted(ids)


def dispatch_due_emails(*, now, batch_size=BATCH_SIZE, max_batches=None) -> DispatchReport:
    """Send every email due at `now`; commits as it goes (the rows are the truth)."""
    report = DispatchReport()
    if not current_app.config.get("MAIL_SERVER"):
        report.held = _hold_without_server(now)
        return report
    sending = _Sending(current_app, now)
    # Sent emails are committed every COMMIT_EVERY while the rest of the batch is still being
    # rendered; expiring the batch's rows at each commit would reload them one by one. The
    # rows are leased to this worker, and _preload reads the rest afresh for every batch.
    session = db.session()
    session.expire_on_commit = False
    try:
        with SmtpPool(current_app.extensions["mail"], current_app.config["MAIL_CONNECTIONS"]) as pool:
            batches = 0
            while max_batches is None or batches < max_batches:
                ids = claim_due_emails(now=now, limit=batch_size)
                if not ids:
                    break
                batches += 1
                emails = db.session.scalars(select(OutboxEmail).where(OutboxEmail.id.in_(ids))
                                            .order_by(OutboxEmail.id)
                                            .execution_options(populate_existing=True)).all()
                _send_batch(emails, sending, pool, report)
                db.session.commit()
    finally:
        session.expire_on_commit = True
    return report


def _hold_without_server(now):
    held = db.session.execute(
        update(OutboxEmail)
        .where(_due(now), or_(OutboxEmail.last_error.is_(None), OutboxEmail.last_error != NO_MAIL_SERVER))
        .values(last_error=NO_MAIL_SERVER)
    ).rowcount
    db.session.commit()
    return held


def message_id_domain(app) -> str:
    return app.config["BASE_URL"].split("//", 1)[-1].split("/", 1)[0].split(":")[0] or "localhost"


class _Sending:
    """What every email of one dispatch run shares: the time, the sender, the link builder."""

    def __init__(self, app, now):
        sender = app.config["MAIL_DEFAULT_SENDER"]
        self.now = now
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


def _preload(emails):
    """Load what the templates need for the whole batch in a few queries (not one per email):
    each email kind says what it reads (EmailKind.preload)."""
    keep = []
    for preload, rows in hooks_of(emails, "preload").items():
        keep += preload(rows)
    return keep  # held by the caller so the identity map keeps them


def _send_batch(emails, sending, pool, report):
    """Render each email and hand it to the pool at once, so sending overlaps rendering;
    outcomes are recorded as they come (sent ones every COMMIT_EVERY)."""
    preloaded = _preload(emails)  # noqa: F841
    now = sending.now
    by_id = {email.id: email for email in emails}
    sent, waiting = [], 0

    def record(outcomes):
        nonlocal sent, waiting
        for outcome in outcomes:
            waiting -= 1
            if outcome.error is None:
                sent.append(by_id[outcome.email_id])
            else:
                reason, permanent = _failure_of(outcome)
                _record_failure(by_id[outcome.email_id], now, reason, permanent=permanent, report=report)
        if len(sent) >= COMMIT_EVERY:
            _record_sent(sent, now, report)
            sent = []

    pool.start_round()
    merge = {}  # each distinct email of the batch is rendered once (render_email)
    try:
        for email in emails:
            try:
                envelope = sending.envelope(email, merge)
            except Exception as error:  # a template or data problem: this email can never render
                log.exception("outbox email %s could not be rendered", email.id)
                _record_failure(email, now, f"could not render: {error}", permanent=True, report=report)
                continue
            pool.submit(email.id, envelope)
            waiting += 1
            record(pool.outcomes())
        while waiting:
            record(pool.outcomes(wait_for=1))
    finally:
        _record_sent(sent, now, report)


def _failure_of(outcome):
    """(what to record, whether retrying is pointless) for a failed send."""
    error = outcome.error
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


def _record_sent(emails, now, report):
    """Mark these emails sent and commit at once: set-based, and the window in which a crash
    could make us send them again stays small (COMMIT_EVERY)."""
    if not emails:
        return
    email_ids = [email.id for email in emails]
    db.session.execute(
        update(OutboxEmail).where(OutboxEmail.id.in_(email_ids))
        .values(status=OutboxStatus.sent, sent_at=now, attempts=OutboxEmail.attempts + 1,
                locked_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    with_secrets = db.session.execute(
        select(OutboxEmail.id, OutboxEmail.context).where(OutboxEmail.id.in_(email_ids), OutboxEmail.kind.in_(KINDS_WITH_SECRETS))
    ).all()
    for email_id, context in with_secrets:
        db.session.execute(update(OutboxEmail).where(OutboxEmail.id == email_id).values(context=_without_secrets(context)))
    for on_sent, sent in hooks_of(emails, "on_sent").items():
        on_sent(sent, now)
    db.session.commit()
    report.sent += len(email_ids)


def _record_failure(email, now, reason, *, permanent, report):
    email.attempts += 1
    email.last_error = reason[:2000]
    email.locked_until = None
    if permanent or email.attempts >= MAX_ATTEMPTS:
        email.status = OutboxStatus.failed
        _erase_secrets(email)
        report.failed += 1
    else:
        email.next_attempt_at = now + BACKOFF[email.attempts - 1]
        report.retrying += 1
    report.errors.append(f"{email.recipient}: {reason}")


def _without_secrets(context):
    return {key: value for key, value in (context or {}).items() if key not in SECRET_CONTEXT_KEYS}


def _erase_secrets(email):
    if any(key in (email.context or {}) for key in SECRET_CONTEXT_KEYS):
        email.context = _without_secrets(email.context)
