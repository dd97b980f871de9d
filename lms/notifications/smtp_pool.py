"""Several SMTP connections sending at once.

One SMTP conversation is four round trips per email (MAIL, RCPT, DATA, the message); on one
connection the dispatcher spends most of its time waiting for replies. A few threads, each
with its own connection (Flask-Mail's settings: SSL, STARTTLS, login), overlap those waits.
The threads only talk SMTP: the database stays with the caller, which gets one outcome per
email as soon as it is known.
"""
import queue
import smtplib
import threading
from dataclasses import dataclass

from flask_mail import Connection

from lms.notifications.mime import Envelope


# Errors that concern one email; the connection can go on with the next.
ABOUT_THE_EMAIL = (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException, smtplib.SMTPNotSupportedError)


@dataclass(frozen=True)
class Outcome:
    email_id: int
    error: Exception | None  # None: accepted by the server

    @property
    def connection_lost(self):
        """The error says nothing about this email: the server could not be reached or hung up."""
        return self.error is not None and not isinstance(self.error, ABOUT_THE_EMAIL)


class SmtpPool:
    """`with SmtpPool(mail_state, size) as pool:` submit (email id, envelope) pairs, then read
    their outcomes, in completion order, while more are being built."""

    def __init__(self, mail_state, size):
        self._mail = mail_state
        self._work = queue.SimpleQueue()
        self._outcomes = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._sender, name=f"smtp-{number}", daemon=True)
                         for number in range(max(1, size))]
        self._round = 0

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join()

    def start_round(self):
        """A new batch: a server found unreachable in the last one is tried again."""
        self._round += 1

    def submit(self, email_id: int, envelope: Envelope):
        self._work.put((self._round, email_id, envelope))

    def outcomes(self, *, wait_for=0):
        """Outcomes known so far, waiting until at least `wait_for` of them have come."""
        found = []
        while len(found) < wait_for:
            found.append(self._outcomes.get())
        while True:
            try:
                found.append(self._outcomes.get_nowait())
            except queue.Empty:
                return found

    def _sender(self):
        host, failed_round, failure = None, None, None
        while (item := self._work.get()) is not None:
            round_number, email_id, envelope = item
            if failed_round == round_number:  # this round already found the server unreachable
                self._outcomes.put(Outcome(email_id, failure))
                continue
            try:
                if host is None and not self._mail.suppress:
                    host = Connection(self._mail).configure_host()
                if host is not None:
                    host.sendmail(envelope.sender, [envelope.recipient], envelope.data,
                                  mail_options=["SMTPUTF8"] if envelope.needs_smtputf8 else [])
            except ABOUT_THE_EMAIL as error:
                self._outcomes.put(Outcome(email_id, error))
                if getattr(error, "smtp_code", None) == 421:  # the server is closing the connection
                    host = _close(host)
            except (OSError, smtplib.SMTPException) as error:
                self._outcomes.put(Outcome(email_id, error))
                host, failed_round, failure = _close(host), round_number, error
            except Exception as error:  # never leave the caller waiting for an outcome
                self._outcomes.put(Outcome(email_id, error))
            else:
                self._outcomes.put(Outcome(email_id, None))
        if host is not None:
            try:
                host.quit()
            except (OSError, smtplib.SMTPException):
                pass


def _close(host):
    if host is not None:
        try:
            host.close()
        except OSError:
            pass
    return None
