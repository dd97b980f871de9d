"""Several SMTP connections sending at once, with at most one unrecorded email each.

One SMTP conversation is four round trips per email (MAIL, RCPT, DATA, the message); on one
connection the dispatcher spends most of its time waiting for replies. A few threads, each
with its own connection (Flask-Mail's settings: SSL, STARTTLS, login), overlap those waits.
The threads only talk SMTP: the database stays with the caller, which gets one outcome per
email as soon as it is known, and says when it has recorded it (`recorded`).

R10 (a crash repeats at most the emails in flight): a thread sends an email's body, the step
after which the server may accept it, only while fewer than `size` accepted emails wait to be
recorded. MAIL, RCPT and DATA of the next email do not wait: they overlap the caller's commit.

Every connect and every command times out after `timeout` seconds (Flask-Mail sets none, so
a server that accepts connections and never answers would hold a thread for ever).
"""
import queue
import re
import smtplib
import threading
from dataclasses import dataclass

from lms.notifications.mime import Envelope

# Errors that concern one email; the connection can go on with the next.
ABOUT_THE_EMAIL = (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException, smtplib.SMTPNotSupportedError)
CRLF = b"\r\n"


@dataclass(frozen=True)
class Outcome:
    email_id: int
    error: Exception | None  # None: accepted by the server
    sent_body: bool = False  # the body went out: the caller must say when it is recorded

    @property
    def connection_lost(self):
        """The error says nothing about this email: the server could not be reached or hung up."""
        return self.error is not None and not isinstance(self.error, ABOUT_THE_EMAIL)


class PoolClosed(Exception):
    pass


class SmtpPool:
    """`with SmtpPool(mail_state, size, timeout=30) as pool:` submit (email id, envelope)
    pairs, read their outcomes in completion order, and pass each batch of outcomes to
    `recorded()` once they are committed."""

    def __init__(self, mail_state, size, *, timeout, on_outcome=None):
        self._mail = mail_state
        self.on_outcome = on_outcome  # called in the sending thread with each outcome, before it is queued
        self.size = max(1, size)
        self.timeout = timeout
        self._work = queue.SimpleQueue()
        self._outcomes = queue.SimpleQueue()
        self._unrecorded = threading.Semaphore(self.size)  # bodies sent whose outcome is not recorded
        self._closed = threading.Event()
        self._threads = [threading.Thread(target=self._sender, name=f"smtp-{number}", daemon=True)
                         for number in range(self.size)]
        self._round = 0

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self._closed.set()
        for _ in self._threads:
            self._work.put(None)
            self._unrecorded.release()  # a thread waiting to send a body gives up
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)

    def start_round(self):
        """A new batch: a server found unreachable in the last one is tried again."""
        self._round += 1

    def submit(self, email_id: int, envelope: Envelope):
        self._work.put((self._round, email_id, envelope))

    def outcomes(self, *, wait_for=0, timeout=None):
        """Outcomes known so far, waiting until at least `wait_for` of them have come (or,
        with a timeout, for at most that long: then maybe fewer)."""
        found = []
        while len(found) < wait_for:
            try:
                found.append(self._outcomes.get(timeout=timeout))
            except queue.Empty:
                return found
        while True:
            try:
                found.append(self._outcomes.get_nowait())
            except queue.Empty:
                return found

    def recorded(self, outcomes):
        """These outcomes are committed: as many more bodies may go out."""
        for outcome in outcomes:
            if outcome.sent_body:
                self._unrecorded.release()

    def _emit(self, outcome):
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        self._outcomes.put(outcome)

    def _may_send_body(self):
        self._unrecorded.acquire()
        if self._closed.is_set():
            raise PoolClosed("the dispatcher stopped before this email's body was sent")

    def _sender(self):
        host, failed_round, failure = None, None, None
        while (item := self._work.get()) is not None:
            round_number, email_id, envelope = item
            if failed_round == round_number:  # this round already found the server unreachable
                self._emit(Outcome(email_id, failure))
                continue
            progress = _Progress()
            try:
                if host is None and not self._mail.suppress:
                    host = connect(self._mail, self.timeout)
                if host is not None:
                    send(host, envelope, before_body=lambda: (self._may_send_body(), progress.body()))
                else:
                    self._may_send_body()
                    progress.body()
            except PoolClosed:
                host = _close(host)
                break
            except ABOUT_THE_EMAIL as error:
                self._emit(Outcome(email_id, error, progress.sent_body))
                if getattr(error, "smtp_code", None) == 421:  # the server is closing the connection
                    host = _close(host)
            except (OSError, smtplib.SMTPException) as error:
                self._emit(Outcome(email_id, error, progress.sent_body))
                host, failed_round, failure = _close(host), round_number, error
            except Exception as error:  # never leave the caller waiting for an outcome
                self._emit(Outcome(email_id, error, progress.sent_body))
                host = _close(host)
            else:
                self._emit(Outcome(email_id, None, progress.sent_body))
        if host is not None:
            try:
                host.quit()
            except (OSError, smtplib.SMTPException):
                pass


class _Progress:
    sent_body = False

    def body(self):
        self.sent_body = True


def send(host, envelope, *, before_body):
    """smtplib's sendmail for one recipient, calling `before_body()` after the server's 354
    and before the message itself (which the server may accept)."""
    host.ehlo_or_helo_if_needed()
    options = []
    if host.does_esmtp:
        if host.has_extn("size"):
            options.append(f"size={len(envelope.data)}")
        if envelope.needs_smtputf8:
            options.append("SMTPUTF8")
    code, reply = host.mail(envelope.sender, options)
    if code != 250:
        _reset(host, code)
        raise smtplib.SMTPSenderRefused(code, reply, envelope.sender)
    code, reply = host.rcpt(envelope.recipient)
    if code not in (250, 251):
        _reset(host, code)
        raise smtplib.SMTPRecipientsRefused({envelope.recipient: (code, reply)})
    host.putcmd("data")
    code, reply = host.getreply()
    if code != 354:
        _reset(host, code)
        raise smtplib.SMTPDataError(code, reply)
    before_body()
    body = re.sub(rb"(?m)^\.", b"..", envelope.data)
    if not body.endswith(CRLF):
        body += CRLF
    host.send(body + b"." + CRLF)
    code, reply = host.getreply()
    if code != 250:
        _reset(host, code)
        raise smtplib.SMTPDataError(code, reply)


def _reset(host, code):
    if code == 421:
        host.close()
    else:
        try:
            host.rset()
        except smtplib.SMTPServerDisconnected:
            pass


def connect(mail, timeout):
    """An SMTP connection as Flask-Mail opens one (SSL, STARTTLS, login), with a timeout."""
    smtp_class = smtplib.SMTP_SSL if mail.use_ssl else smtplib.SMTP
    host = smtp_class(mail.server, mail.port, timeout=timeout)
    try:
        host.set_debuglevel(int(mail.debug))
        if mail.use_tls:
            host.starttls()
        if mail.username and mail.password:
            host.login(mail.username, mail.password)
    except BaseException:
        _close(host)
        raise
    return host


def _close(host):
    if host is not None:
        try:
            host.close()
        except OSError:
            pass
    return None
