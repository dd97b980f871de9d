"""Tokens for links sent to people (invitations, session invitations, invite links).

R9: a token carries 32 random bytes and only its SHA-256 hash is stored, for look-up. The token
itself is derived from a random per-row nonce and the application's SECRET_KEY (HMAC), so the
server can show a link again (an email rendered when it falls due, a printed QR code) while a
copy of the database alone reveals no working token. A new nonce kills the old token.
"""
import base64
import hashlib
import hmac
import secrets

from flask import current_app


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_from_nonce(nonce: str, secret_key: str | None = None) -> str:
    key = (secret_key or current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_token() -> tuple[str, str, str]:
    """A fresh (nonce, token, token_hash)."""
    nonce = secrets.token_urlsafe(32)
    token = token_from_nonce(nonce)
    return nonce, token, hash_token(token)
