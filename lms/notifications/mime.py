"""An outbox email as the bytes sent over SMTP: multipart/alternative, text then HTML, UTF-8,
quoted-printable.

The standard library's email package (which Flask-Mail uses) builds and serialises this same
message in about 1.4 ms, re-parsing every header it has just written; that was over a third of
the dispatcher's time per email (docs/performance.md). The shape never varies, so it is
written directly, in about 0.05 ms. Header values still go through `email.header` (encoded
words for non-ASCII, folding) and addresses through Flask-Mail's `sanitize_address` (IDN).
"""
import binascii
import secrets
from dataclasses import dataclass
from email.header import Header
from email.utils import formatdate
from functools import lru_cache

from flask_mail import sanitize_address

CRLF = b"\r\n"


@dataclass(frozen=True)
class Envelope:
    """What goes to the SMTP server: MAIL FROM, RCPT TO and DATA."""

    sender: str
    recipient: str
    data: bytes

    @property
    def needs_smtputf8(self):
        """An address with a non-ASCII local part (élodie@...) needs the server's SMTPUTF8."""
        return not self.recipient.isascii()


@lru_cache(maxsize=1024)
def header(value: str) -> str:
    # Line breaks are collapsed first: a name or title typed by a user cannot add a header.
    value = " ".join(value.split())
    return Header(value, "us-ascii" if value.isascii() else "utf-8").encode(linesep="\r\n")


def address(value) -> str:
    """A From value (possibly "Name <address>"): as it is when plain ASCII, otherwise with
    the name encoded and the domain in IDNA."""
    if isinstance(value, str) and value.isascii() and "\n" not in value and "\r" not in value:
        return value
    return sanitize_address(value)


def mailbox(value: str) -> str:
    """A recipient's bare address: the domain in IDNA (bücher.example -> xn--bcher-kva.example);
    a non-ASCII local part stays as it is (RFC 6532), to be sent with SMTPUTF8."""
    local, _, domain = "".join(value.split()).rpartition("@")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def _quoted_printable(text: str) -> bytes:
    body = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True)
    return body.replace(b"\n", CRLF) + CRLF


def _part(content_type: str, text: str) -> bytes:
    return (f'Content-Type: {content_type}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + _quoted_printable(text)


def multipart_alternative(*, sender: str, recipient: str, subject: str, text: str, html: str,
                          message_id: str, timestamp: float) -> bytes:
    boundary = f"=_lms_{secrets.token_hex(12)}"
    head = (f"From: {sender}\r\nTo: {recipient}\r\nSubject: {header(subject)}\r\n"
            f"Date: {formatdate(timestamp, localtime=True)}\r\nMessage-ID: {message_id}\r\n"
            f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n')
    delimiter = f"--{boundary}\r\n".encode()
    return b"".join([head.encode("utf-8"), delimiter, _part("text/plain", text), delimiter, _part("text/html", html),
                     f"--{boundary}--\r\n".encode()])
