"""Creating, listing, revoking and checking the bearer tokens identity providers call SCIM with.

A token is shown once, when created; only its SHA-256 hash is kept (R9). Every SCIM change is
recorded as an audit event of the token (lms.audit.services.acting_through).
"""
import secrets

from sqlalchemy import select

from lms.audit.services import record_event
from lms.db_utils import as_id
from lms.errors import DomainError, NotFound
from lms.extensions import db
from lms.scim.models import ScimToken
from lms.tokens import hash_token

TOKEN_PREFIX = "lms_scim_"
MAX_NAME_LENGTH = 100
# last_used_at is written at most this often per token: a provider syncing thousands of users
# should not rewrite the token's row on every request.
LAST_USED_PRECISION_SECONDS = 60


def create_token(name: str, *, actor, now) -> tuple[ScimToken, str]:
    """A new token named `name` (what the admin will recognise: "Entra ID production");
    returns the row and the token itself, which is not stored and cannot be shown again."""
    name = " ".join((name or "").split())
    if not name:
        raise DomainError("Give the token a name, such as the identity provider that will use it.", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise DomainError(f"A token name has at most {MAX_NAME_LENGTH} characters.", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ScimToken(name=name, token_hash=hash_token(token), prefix=token[:len(TOKEN_PREFIX) + 4],
                    created_by_id=actor.id if actor is not None else None, created_at=now)
    db.session.add(row)
    db.session.flush()
    record_event(actor, "scim_token.created", "scim_token", row.id, now=now, name=name)
    return row, token


def list_tokens() -> list[ScimToken]:
    """Every token, the usable ones first, newest first."""
    return db.session.scalars(select(ScimToken).order_by(ScimToken.revoked_at.is_not(None),
                                                         ScimToken.created_at.desc(), ScimToken.id.desc())).all()


def find_token(token_id) -> ScimToken:
    number = as_id(token_id)
    row = db.session.get(ScimToken, number) if number is not None else None
    if row is None:
        raise NotFound(f"No SCIM token with the id {token_id}.")
    return row


def revoke_token(row: ScimToken, *, actor, now) -> bool:
    """The token stops working at once; returns False when it already had."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = now
    db.session.flush()
    record_event(actor, "scim_token.revoked", "scim_token", row.id, now=now, name=row.name)
    return True


def token_of_request(authorization: str | None, *, now) -> ScimToken | None:
    """The usable token an `Authorization: Bearer ...` header carries, or None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = db.session.scalar(select(ScimToken).where(ScimToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= LAST_USED_PRECISION_SECONDS:
        row.last_used_at = now
    return row
