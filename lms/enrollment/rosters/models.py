"""Roster imports: the job row is the import's state (options, progress, counts, errors)."""
import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.db_types import UTCDateTime, enum_type
from lms.extensions import db


class ImportJobStatus(enum.StrEnum):
    draft = "draft"  # previewed; nothing is written until the admin starts it
    queued = "queued"
    running = "running"
    finished = "finished"
    failed = "failed"


class ImportJob(db.Model):
    """A bulk roster import; the row is the job's state, so progress survives reloads and workers."""

    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(10))  # paste | csv | xlsx
    filename: Mapped[str | None] = mapped_column(String(255))
    mode: Mapped[str] = mapped_column(String(10), server_default="create", default="create")
    is_dry_run: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    is_strict: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[ImportJobStatus] = mapped_column(
        enum_type(ImportJobStatus, "status"),
        server_default=ImportJobStatus.queued.value,
        default=ImportJobStatus.queued,
    )
    input_data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    rows_total: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    rows_checked: Mapped[int] = mapped_column(Integer, server_default="0", default=0)  # planned, first
    rows_processed: Mapped[int] = mapped_column(Integer, server_default="0", default=0)  # then written
    created_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    updated_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    emails_queued: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    errors: Mapped[list] = mapped_column(JSON, default=list, deferred=True)
    # A draft's rows as the preview shows them (lms.enrollment.import_jobs.preview_rows).
    preview: Mapped[list | None] = mapped_column(JSON, deferred=True)
    failure_message: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(120))  # the worker running it (lms.workers)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def from_command_line(self) -> bool:
        """Run by `lms import` rather than from the page (its options say so)."""
        return (self.options or {}).get("origin") == "cli"

    @property
    def input_name(self) -> str:
        """What the lists call the roster: its file's name, or where its rows came from."""
        return self.filename or ("Standard input" if self.from_command_line else "Pasted rows")

    def __repr__(self):
        return f"<ImportJob {self.id} {self.status.value} {self.rows_processed}/{self.rows_total}>"


class RosterMapping(db.Model):
    """The columns HR mapped on a preview, for a header: the next file with the same header is
    read the same way."""

    __tablename__ = "roster_mappings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the header's names
    mapping: Mapped[dict] = mapped_column(JSON)  # {column number: field or "ignore"}
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])


class ImportRowOutcome(enum.StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"
    skipped = "skipped"


class ImportJobRow(db.Model):
    """What an import did with one roster line that named a person (rejected lines are the
    job's errors): the report lists the people, each linked to their page."""

    __tablename__ = "import_job_rows"
    __table_args__ = (Index("ix_import_job_rows_job_id_outcome_line", "job_id", "outcome", "line"),)

    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome: Mapped[ImportRowOutcome] = mapped_column(enum_type(ImportRowOutcome, "outcome"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(String(320))

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])

    def __repr__(self):
        return f"<ImportJobRow {self.job_id}:{self.line} {self.outcome.value} {self.email}>"
