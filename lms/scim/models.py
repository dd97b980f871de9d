"""Bearer tokens of identity providers: each one is named, shown once and stored hashed."""
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lms.db_types import UTCDateTime
from lms.extensions import db


class ScimToken(db.Model):
    __tablename__ = "scim_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # SHA-256 of the token (lms.tokens.hash_token): a copy of the database holds no working token.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Its first characters, so that admins can tell tokens apart in lists and logs.
    prefix: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def __repr__(self):
        return f"<ScimToken {self.id} {self.name!r}>"
