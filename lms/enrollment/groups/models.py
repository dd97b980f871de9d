"""Groups and their members."""
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.db_types import UTCDateTime
from lms.extensions import db


class Group(db.Model):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # casefold(name): unique, so "Sales" and "SALES" (and "Équipe"/"ÉQUIPE") cannot both exist.
    # SQLite's lower() folds ASCII only, so the key is computed in Python.
    name_key: Mapped[str] = mapped_column(String(120), unique=True)
    # Short id that admins copy into rosters (`groups` column); never reused.
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Renamed, or members added or removed (SCIM's meta.lastModified); None until then.
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The group's id in the identity provider (SCIM externalId, such as an Entra object id).
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # When the identity provider deleted the group while sessions used it: it was emptied and
    # kept for their history, and SCIM no longer shows it (a group no session uses is deleted).
    scim_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Managers may add the group to the sessions they manage (lms.programs.access); admins decide.
    open_to_trainers: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    memberships: Mapped[list["GroupMembership"]] = relationship(
        back_populates="group", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self):
        return f"<Group {self.id} {self.public_id} {self.name!r}>"


class GroupMembership(db.Model):
    __tablename__ = "group_memberships"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    group: Mapped[Group] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    def __repr__(self):
        return f"<GroupMembership group={self.group_id} user={self.user_id}>"
