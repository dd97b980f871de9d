"""Secrets an email carries (a temporary password), sealed while the email waits in the outbox.

The outbox row keeps only the sealed text (Fernet: AES with an HMAC, from `cryptography`), under
a key derived from SECRET_KEY, so a copy of the database alone reveals no password; the
renderer unseals it when the email goes, and the row is wiped when it is sent or given up
(lms.notifications.recording). A changed SECRET_KEY leaves a waiting secret unreadable: that
email fails, naming why, and the admin sets a new password.
"""
import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

SEALED_PASSWORD = "sealed_password"  # the context key of a sealed password


class UnreadableSecret(Exception):
    """The sealed text was sealed under another SECRET_KEY, or altered."""


def _fernet(secret_key=None) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lms outbox secrets").derive(
        (secret_key or current_app.config["SECRET_KEY"]).encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, *, secret_key=None) -> str:
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def unseal(sealed: str, *, secret_key=None) -> str:
    try:
        return _fernet(secret_key).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        raise UnreadableSecret("the sealed password cannot be read: SECRET_KEY changed since it was "
                               "queued; set a new password for this person") from None


def sealed_password(password: str) -> dict:
    """The part of an email's context that carries `password`."""
    return {SEALED_PASSWORD: seal(password)}
