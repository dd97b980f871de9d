"""Roster imports as jobs: the ImportJob row is the job (its input, options, preview,
progress and report), so progress survives a page reload and a job whose worker died is
picked up again by the next one (`run_queued_import_jobs`, from the scheduler's due work).

The page's path: `preview_import` reads and plans the roster into a draft (nothing else is
written), `start_import_job` queues it when the admin presses Import, and
`run_import_job_in_thread` runs it outside the request. `lms import` calls `import_roster`,
which records the same job (its origin says "cli") and runs it at once, so both doors' imports
are under Past imports with their counts and per-line errors.

A running job is leased to its worker (lms.workers), which renews the lease by its heartbeat;
every batch first checks, in its own transaction, that the job is still its own (fencing), so
two workers never write one job. When the worker dies the next one takes the job over at once
and resumes after its last committed batch, counting what was already written. A strict job
writes everything in one transaction: all or nothing.

Each batch also writes what it did with each person (ImportJobRow), in its own transaction, so
the report's people (`people_of_import`, a page at a time) list every line once, however often
the job was taken over.
"""
import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import bindparam, delete, func, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm.attributes import set_committed_value

from lms.accounts.models import User
from lms.accounts.passwords import GENERATE
from lms.clock import utcnow
from lms.enrollment.rosters.importer import (
    ImportReport,
    Resume,
    count_actions,
    defaults_for,
    plan_import,
    report_of_plan,
    run_import,
)
from lms.enrollment.rosters.headers import looks_like_password
from lms.enrollment.rosters.models import ImportJob, ImportJobRow, ImportJobStatus, ImportRowOutcome, RosterMapping
from lms.enrollment.rosters.parser import (
    MAX_CLI_ROWS,
    MAX_ROWS,
    XLSX_MAGIC,
    RosterUnreadable,
    cell_text,
    load_roster,
)
from lms.errors import DomainError
from lms.extensions import db
from lms.workers import with_worker, working

log = logging.getLogger(__name__)
DRAFT_LIFETIME = timedelta(days=1)  # a draft holds the roster (maybe passwords): not for long
MAX_REPORTED_ERRORS = 5000


def create_import_job(data: bytes, *, source, filename=None, kind="auto", mode="create", strict=False,
                      defaults=None, actor, now, origin="page", mapping=None, sheet=None) -> ImportJob:
    """Check the roster can be read and queue it. RosterUnreadable says why it cannot."""
    job, _, _ = _new_job(data, source=source, filename=filename, kind=kind, mode=mode, strict=strict,
                         defaults=defaults, actor=actor, now=now, origin=origin, mapping=mapping, sheet=sheet)
    db.session.flush()
    return job


@with_worker
def import_roster(data: bytes, *, filename=None, kind="auto", mode="create", strict=False, defaults=None,
                  actor, now, origin="cli", mapping=None, sheet=None, worker) -> tuple[ImportJob | None, ImportReport | None]:
    """Import a roster here and now (`lms import`): the page's job, recorded with its origin and
    run to its end by this worker. Returns the job (finished, or failed with its message) and
    the whole report (every error, where the job keeps the first MAX_REPORTED_ERRORS; None if
    the job failed). RosterUnreadable says why the roster cannot be read: then nothing is kept.
    `mapping` ({column: field}) and `sheet` as for load_roster."""
    job, roster, _ = _new_job(data, source=source_of(data, kind), filename=filename, kind=kind, mode=mode,
                              strict=strict, defaults=defaults, actor=actor, now=now, origin=origin,
                              mapping=mapping, sheet=sheet)
    _refuse_empty(roster, filename or "The standard input")
    db.session.flush()
    # Claimed in the transaction that adds it: no scheduler sees it queued and takes it meanwhile.
    # The roster read here is the one it runs (not read again from the job's copy).
    return _run_job(job.id, now=now, worker=worker, actor=actor, roster=roster)


def dry_run_import(data: bytes, *, filename=None, kind="auto", mode="create", strict=False, defaults=None,
                   actor=None, now, mapping=None, sheet=None) -> ImportReport:
    """What importing the roster would do (`lms import --dry-run`); nothing is written, not even
    a job. RosterUnreadable says why the roster cannot be read."""
    roster = _load(data, filename=filename, kind=kind, mapping=mapping, sheet=sheet, max_rows=MAX_CLI_ROWS)
    _refuse_empty(roster, filename or "The standard input")
    return run_import(roster, actor=actor, now=now, mode=mode, defaults=defaults, strict=strict, dry_run=True)


def source_of(data: bytes, kind="auto") -> str:
    """What a job's `source` says of a roster given as bytes: paste, csv or xlsx."""
    if kind == "xlsx" or (kind == "auto" and data.startswith(XLSX_MAGIC)):
        return "xlsx"
    return "paste" if kind == "paste" else "csv"


def preview_import(data: bytes, *, source, filename=None, kind="auto", mode="create", strict=False,
                   defaults=None, actor, now, mapping=None, sheet=None) -> ImportJob:
    """Read and plan the roster into a draft job holding every row as the preview shows it;
    no account, membership or email is written. RosterUnreadable says why it cannot be read.
    Without a `mapping`, a file whose header was mapped before is read as it was then."""
    job, roster, defaults = _new_job(data, source=source, filename=filename, kind=kind, mode=mode, strict=strict,
                                     defaults=defaults, actor=actor, now=now, status=ImportJobStatus.draft,
                                     mapping=mapping, sheet=sheet, remembered=mapping is None)
    _refuse_empty(roster, filename or "The paste")
    planned = plan_import(roster, mode=mode, defaults=defaults, now=now, actor=actor)
    job.preview = [_preview_row(row, roster.columns) for row in planned]
    report = report_of_plan(roster, planned)
    count_actions(report, planned)
    _record(job, report, done=0)
    job.errors = _errors_with_rows(report.errors, roster)
    db.session.flush()
    return job


def _new_job(data, *, source, filename, kind, mode, strict, defaults, actor, now, status=ImportJobStatus.queued,
             origin="page", mapping=None, sheet=None, remembered=False):
    """(job, roster, defaults): the job for a roster that can be read, added to the session.
    `origin`: the door it came through, "page" or "cli" (ImportJob.from_command_line).
    `remembered`: read the file as its header was mapped last time, if it was."""
    max_rows = _max_rows_of(origin)
    roster = _load(data, filename=filename, kind=kind, mapping=mapping, sheet=sheet, max_rows=max_rows)
    remembered_on = None
    if remembered and (memory := remembered_mapping(roster)) is not None:
        mapping, remembered_on = memory.mapping, memory.updated_at
        roster = _load(data, filename=filename, kind=kind, mapping=mapping, sheet=sheet, max_rows=max_rows)
        roster.warnings.insert(0, f"Columns read as they were mapped for this header on "
                                  f"{remembered_on:%Y-%m-%d}; change them below.")
    defaults = defaults or defaults_for()
    layout = roster.layout
    job = ImportJob(created_by_id=actor.id if actor else None, source=source, filename=filename, mode=mode,
                    is_strict=strict, input_data=data, rows_total=roster.total_rows, created_at=now, status=status,
                    options={"origin": origin, "kind": kind, "columns": list(roster.columns),
                             "header": layout.names if layout and layout.header_line is not None else None,
                             "header_line": layout.header_line if layout else None,
                             "signature": layout.signature if layout else None,
                             "titles": layout.titles if layout else [], "samples": layout.samples if layout else [],
                             "mapping": mapping, "sheet": sheet, "sheet_read": roster.sheet, "sheets": roster.sheets,
                             "warnings": roster.warnings, "roster_errors": [error.as_dict() for error in roster.errors],
                             "defaults": {**defaults, "deactivate_on": _iso(defaults["deactivate_on"])}})
    db.session.add(job)
    return job, roster, defaults


def _load(data, *, filename, kind, mapping, sheet, max_rows=None):
    return load_roster(data, filename=filename or "", kind=kind, languages=current_app.config["LMS_LANGUAGES"],
                       mapping=mapping, sheet=sheet, max_rows=max_rows if max_rows is not None else MAX_ROWS)


def _max_rows_of(origin):
    """The rows a roster may have: 200,000 from the command line, which reads it as a stream;
    the page's 50,000 (its upload limit and preview of every row)."""
    return MAX_CLI_ROWS if origin == "cli" else MAX_ROWS


def _refuse_empty(roster, name):
    if not roster.total_rows:
        raise RosterUnreadable(" ".join([f"{name} has no rows to import (only a header, blank or comment lines)."]
                                        + [f"Line {error.line}: {error.message}" for error in roster.errors[:3]]))


def _signature_key(signature):
    return hashlib.sha256(signature.encode()).hexdigest()


def remembered_mapping(roster) -> RosterMapping | None:
    """The mapping HR gave on a preview for this roster's header, if any, and if it still fits."""
    signature = roster.layout.signature if roster.layout else None
    if not signature:
        return None
    memory = db.session.scalar(select(RosterMapping).where(RosterMapping.signature == _signature_key(signature)))
    if memory is None or any(int(column) > len(roster.layout.titles) for column in memory.mapping):
        return None
    return memory


def remap_preview(job, mapping, *, sheet=None, actor, now) -> ImportJob:
    """Preview a draft again with its columns mapped (the preview's mapping step), without a new
    upload; the mapping is remembered for the next file with the same header. `mapping`:
    {column number: field or "ignore"}. RosterUnreadable says what is wrong with it; DomainError
    that the draft is no longer one."""
    options = job.options or {}
    defaults = dict(options.get("defaults") or defaults_for())
    defaults["deactivate_on"] = date.fromisoformat(defaults["deactivate_on"]) if defaults.get("deactivate_on") else None
    if sheet and sheet != options.get("sheet_read"):
        mapping = None  # another sheet has other columns
    data = job.input_data
    if not discard_import_draft(job):  # started, or read again by a click just before this one
        raise DomainError("This preview has just been started or read again; open it from Past imports "
                          "or preview the file again.")
    db.session.expunge(job)  # gone: its id may be given to the new draft (SQLite reuses the highest)
    new = preview_import(data, source=job.source, filename=job.filename, kind=options.get("kind", "auto"),
                         mode=job.mode, strict=job.is_strict, defaults=defaults, actor=actor, now=now,
                         mapping=mapping, sheet=sheet or options.get("sheet"))
    if mapping is not None:
        _remember(new, mapping, actor=actor, now=now)
    return new


def _remember(job, mapping, *, actor, now):
    signature = (job.options or {}).get("signature")
    if not signature:
        return
    key = _signature_key(signature)
    memory = db.session.scalar(select(RosterMapping).where(RosterMapping.signature == key))
    if memory is None:
        memory = RosterMapping(signature=key)
        db.session.add(memory)
    memory.mapping, memory.updated_at = dict(mapping), now
    memory.updated_by_id = actor.id if actor else None


FORM_DEFAULTS = ("language", "role", "groups", "deactivate_on", "send_email")  # the form's values


def _preview_row(row, columns):
    """One row of the preview: its cells as they will be imported (as given, when the row has
    errors), which of them change an existing account, and the errors by column."""
    given = {}
    for name, value in zip(columns, row.source, strict=False):
        if name is not None and cell_text(value):
            given[name] = " | ".join(filter(None, (given.get(name), cell_text(value))))
    if row.errors:
        cells = {name: (_shown(text, name) if name == "password" else text) for name, text in given.items()}
    else:
        # A new account shows every value it gets (the defaults too); an existing one what
        # the row gives. Groups: those the person joins.
        values = dict(row.values if row.action == "create" else row.given)
        values["groups"] = [group.name for group in row.new_groups]
        cells = {name: _shown(value, name) for name, value in values.items()}
    errors = {}
    for error in row.errors:
        from_form = error.column in FORM_DEFAULTS and not given.get(error.column)
        errors.setdefault(error.column or "", []).append(("From the form's values: " if from_form else "")
                                                         + error.message)
    return {"line": row.line, "action": row.action, "cells": cells, "errors": errors,
            "changed": sorted(set(row.changes) | ({"groups"} if row.action == "update" and row.new_groups else set()))}


def _shown(value, name=None):
    if name == "password":  # never the password; a temporary one is generated when the row is imported
        return "generated" if is_generate(value) else "••••••" if value else ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return " | ".join(str(item) for item in value)
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def is_generate(value) -> bool:
    """A password cell asking for a generated temporary password (*generate*, in any case)."""
    return isinstance(value, str) and value.strip().casefold() == GENERATE


def start_import_job(job, *, now) -> None:
    """The admin pressed Import on a draft: queue it (once, whoever clicks twice)."""
    if job.is_strict and job.rejected_count:
        raise DomainError(f"Nothing can be imported: the import is all-or-nothing and {job.rejected_count:,} "
                          f"row{'s have' if job.rejected_count != 1 else ' has'} errors. Fix them and preview again.")
    if not job.created_count + job.updated_count:
        raise DomainError("There is nothing to import: no row creates or updates an account.")
    started = db.session.execute(
        update(ImportJob).where(ImportJob.id == job.id, ImportJob.status == ImportJobStatus.draft)
        .values(status=ImportJobStatus.queued, rows_checked=0, rows_processed=0, created_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not started:
        raise DomainError("This import has already been started.")
    db.session.refresh(job)


def discard_import_draft(job) -> bool:
    """Forget a previewed roster the admin does not import."""
    return bool(db.session.execute(
        delete(ImportJob).where(ImportJob.id == job.id, ImportJob.status == ImportJobStatus.draft)
        .execution_options(synchronize_session=False)).rowcount)


def discard_stale_import_drafts(*, now) -> int:
    """Drafts nobody imported within DRAFT_LIFETIME: their roster is not kept."""
    return db.session.execute(
        delete(ImportJob).where(ImportJob.status == ImportJobStatus.draft, ImportJob.created_at < now - DRAFT_LIFETIME)
        .execution_options(synchronize_session=False)).rowcount


def run_import_job_in_thread(app, job_id) -> threading.Thread:
    """Run a queued job outside the request that queued it (the page polls its progress); the
    thread is a worker of its own, with its heartbeat."""

    def work():
        with app.app_context():
            try:
                with working(app) as worker:
                    run_import_job(job_id, now=utcnow(), worker=worker)
            finally:
                db.session.remove()

    thread = threading.Thread(target=work, name=f"import-job-{job_id}", daemon=True)
    thread.start()
    return thread


def _iso(day):
    return day.isoformat() if day else None


class LeaseLost(Exception):
    """Another worker took this job over (this one was taken for gone): it stops writing."""


def _claimable(worker):
    """Queued, or running for a worker that is gone."""
    return or_(ImportJob.status == ImportJobStatus.queued,
               (ImportJob.status == ImportJobStatus.running) & worker.owner_is_gone(ImportJob.locked_by))


def claim_import_job(job_id, *, now, worker) -> bool:
    """Take the job for `worker` (queued, or running for a worker that is gone); commits."""
    claimed = db.session.execute(
        update(ImportJob).where(ImportJob.id == job_id, _claimable(worker))
        .values(status=ImportJobStatus.running, locked_by=worker.id,
                started_at=func.coalesce(ImportJob.started_at, bindparam("now", now, type_=ImportJob.started_at.type)))  # a resumed job keeps its start
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return bool(claimed)


def _hold(job, worker, **values):
    """Fencing, first in a transaction: the job is still this worker's, and (PostgreSQL: row
    lock; SQLite: the write lock) stays so until the commit. `values`: columns of the job set
    in the same statement (each UPDATE of the job's row costs in proportion to the roster it
    keeps on SQLite, which rewrites the whole row: 40 ms for 200,000 rows)."""
    held = db.session.execute(
        update(ImportJob).where(ImportJob.id == job.id, ImportJob.locked_by == worker.id)
        .values(locked_by=worker.id, **values).execution_options(synchronize_session=False)
    ).rowcount
    if not held:
        raise LeaseLost(f"import job {job.id} was taken over by another worker")
    for name, value in values.items():  # the row has them: nothing left to flush
        set_committed_value(job, name, value)


@with_worker
def run_import_job(job_id, *, now, worker, actor=None) -> ImportJob | None:
    """Run a queued job to its end (or resume one whose worker died), committing its progress
    after each batch of rows (a strict job: once, at the end). None: another worker has it."""
    job, _ = _run_job(job_id, now=now, worker=worker, actor=actor)
    return job


def _run_job(job_id, *, now, worker, actor, roster=None) -> tuple[ImportJob | None, ImportReport | None]:
    """run_import_job, with the report: (job, report), (failed job, None) or (None, None).
    `roster`: the job's roster, already read (else it is read from the job's copy)."""
    if not claim_import_job(job_id, now=now, worker=worker):
        return None, None
    job = db.session.get(ImportJob, job_id)
    db.session.refresh(job)
    options = job.options or {}
    defaults = dict(options.get("defaults") or defaults_for())
    defaults["deactivate_on"] = date.fromisoformat(defaults["deactivate_on"]) if defaults.get("deactivate_on") else None
    resume = (Resume(rows=job.rows_processed, created=job.created_count, updated=job.updated_count,
                     unchanged=job.unchanged_count, skipped=job.skipped_count, emails_queued=job.emails_queued)
              if job.rows_processed else None)
    total = job.rows_total
    try:
        if roster is None:
            roster = _load(job.input_data or b"", filename=job.filename, kind=options.get("kind", "auto"),
                           mapping=options.get("mapping"), sheet=options.get("sheet"),
                           max_rows=_max_rows_of(options.get("origin")))
        if actor is None and job.created_by_id is not None:
            actor = db.session.get(User, job.created_by_id)

        def checked(rows):
            _hold(job, worker, rows_checked=rows)
            db.session.commit()

        strict_hold = []

        def before_write():
            if not strict_hold:  # a strict job's first hold lasts until its one commit, at the end
                _hold(job, worker)
                if job.is_strict:
                    strict_hold.append(True)

        def progress(done, report):
            if not job.is_strict:
                _record(job, report, done=done)
                db.session.commit()

        report = run_import(roster, actor=actor, now=now, mode=job.mode, defaults=defaults,
                            strict=job.is_strict, progress=progress, checked=checked,
                            before_write=before_write, resume=resume, job_id=job.id)
        _hold(job, worker)
    except LeaseLost:
        log.warning("import job %s was taken over by another worker; %s stops", job_id, worker.id)
        db.session.rollback()
        return None, None
    except RosterUnreadable as error:
        db.session.rollback()
        return _finish(job, now, worker, failure=str(error)), None
    except SQLAlchemyError:
        log.exception("import job %s failed", job_id)
        db.session.rollback()
        failure = _stopped(job, total, "the database refused a change (an account may have been changed meanwhile)")
        return _finish(job, now, worker, failure=failure), None
    except Exception:  # the job says it failed; what was committed before stays
        log.exception("import job %s failed", job_id)
        db.session.rollback()
        failure = _stopped(job, total, "of an unexpected error (see the server log)")
        return _finish(job, now, worker, failure=failure), None
    _record(job, report, done=roster.total_rows)
    job.rows_checked = roster.total_rows
    job.errors = _errors_with_rows(report.errors, roster)
    finished = _finish(job, now, worker)
    if finished is not None:
        _analyze_after(report)
    return finished, report if finished is not None else None


ANALYZE_FROM_ROWS = 5_000  # an import creating or updating this many accounts refreshes the planner's statistics
ANALYZED_TABLES = ("users", "user_labels", "invitations", "outbox_emails", "group_memberships", "enrollments",
                   "enrollment_groups", "audit_events", "import_job_rows", "user_notices")
SQLITE_ANALYSIS_LIMIT = 1_000  # rows sampled per index


def _analyze_after(report):
    """After a bulk import's last commit, ANALYZE the tables it grew, so the planner knows
    their new rows at once (PostgreSQL's autovacuum would, later; SQLite never would): the
    pages that list people, and the next import's look-ups, are planned for the tables as they
    are now. SQLite analyses one table per statement, on a sample (analysis_limit) so that
    200,000 rows cost a fraction of a second."""
    if report.created + report.updated < ANALYZE_FROM_ROWS:
        return
    try:
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text("ANALYZE " + ", ".join(ANALYZED_TABLES)))
        else:
            db.session.execute(text(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}"))
            for table in ANALYZED_TABLES:
                db.session.execute(text(f"ANALYZE {table}"))
        db.session.commit()
    except SQLAlchemyError:  # statistics are a help, never a reason for the import to fail
        log.exception("ANALYZE after an import failed")
        db.session.rollback()


def _stopped(job, total, why):
    """The failure as the admin reads it: never the database's own message, which quotes the
    SQL and its parameters (they can hold password hashes)."""
    db.session.refresh(job)
    done = job.rows_processed
    if job.is_strict or not done:
        return f"The import stopped because {why}; nothing was imported. Preview it again to retry."
    return (f"The import stopped after {done:,} of {total:,} rows because {why}. The rows before were imported; "
            f"import the file again (existing accounts are matched by email) to finish it.")


def _record(job, report, *, done):
    job.rows_processed = done
    job.created_count, job.updated_count = report.created, report.updated
    job.unchanged_count, job.skipped_count = report.unchanged, report.skipped
    job.rejected_count = report.rejected
    job.emails_queued = report.emails_queued


def _errors_with_rows(errors, roster):
    """The report's errors with each rejected row's cells (for "Download rejected rows"); the
    password cell is left out, as the job keeps no password (a *generate* is no password: kept)."""
    cells_by_line = roster.cells_at(error.line for error in errors[:MAX_REPORTED_ERRORS]) if errors else {}
    titles = roster.layout.titles if roster.layout else []
    secret = {index for index, name in enumerate(roster.columns) if name == "password"} | {
        index for index, title in enumerate(titles) if looks_like_password(title)}
    reported = []
    for error in errors[:MAX_REPORTED_ERRORS]:
        cells = [("" if index in secret and not is_generate(cell_text(cell)) else cell_text(cell))
                 for index, cell in enumerate(cells_by_line.get(error.line, []))]
        reported.append({**error.as_dict(), "cells": cells})
    return reported


def _finish(job, now, worker, failure=None):
    try:
        _hold(job, worker)
    except LeaseLost:
        db.session.rollback()
        return None
    job.status = ImportJobStatus.failed if failure else ImportJobStatus.finished
    job.failure_message = failure
    job.finished_at, job.locked_by = now, None
    job.input_data = None  # the roster may hold passwords: it is not kept once imported
    db.session.commit()
    return job


@with_worker
def run_queued_import_jobs(*, now, worker) -> int:
    """Jobs nobody is running (queued for the scheduler, or their worker died mid-import)."""
    worker.forget_gone_workers()
    ran = 0
    for job_id in db.session.scalars(select(ImportJob.id).where(_claimable(worker)).order_by(ImportJob.id)).all():
        if worker.stopping.is_set():
            break
        ran += run_import_job(job_id, now=now, worker=worker) is not None
    return ran


PEOPLE_PER_PAGE = 50
PEOPLE_OUTCOMES = ("created", "updated", "unchanged", "skipped")


@dataclass(frozen=True)
class Person:
    """One line of an import's people: what it did with the person, and who they are now."""
    line: int
    outcome: ImportRowOutcome
    email: str  # as the import wrote it
    user_id: int | None  # None once the account is deleted
    first_name: str | None
    last_name: str | None

    @property
    def name(self):
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True)
class PeoplePage:
    """A page of an import's people, with what a pager asks (as Flask-SQLAlchemy's pagination)."""
    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self):
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self):
        return self.page > 1

    @property
    def has_next(self):
        return self.page < self.pages

    @property
    def prev_num(self):
        return self.page - 1

    @property
    def next_num(self):
        return self.page + 1


def people_counts(job) -> dict:
    """{outcome: how many people the import left so}, and "all", from the job's own counts."""
    counts = {"created": job.created_count, "updated": job.updated_count, "unchanged": job.unchanged_count,
              "skipped": job.skipped_count}
    return {"all": sum(counts.values()), **counts}


def people_of_import(job, *, outcome=None, search="", page=1, per_page=PEOPLE_PER_PAGE) -> PeoplePage:
    """The people an import named, by line, a page at a time, in one query (their names joined
    in); `outcome` keeps one of PEOPLE_OUTCOMES, `search` the emails holding it. The total comes
    from the job's counts, so only a search costs a count."""
    conditions = [ImportJobRow.job_id == job.id]
    if outcome is not None:
        conditions.append(ImportJobRow.outcome == ImportRowOutcome(outcome))
    search = "".join((search or "").split()).lower()[:320]
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(ImportJobRow.email.like(pattern, escape="\\"))
        total = db.session.scalar(select(func.count()).select_from(ImportJobRow).where(*conditions))
    else:
        total = people_counts(job)[outcome or "all"]
    page = max(1, min(page, max(1, -(-total // per_page))))
    rows = db.session.execute(
        select(ImportJobRow.line, ImportJobRow.outcome, ImportJobRow.email, ImportJobRow.user_id,
               User.first_name, User.last_name)
        .outerjoin(User, User.id == ImportJobRow.user_id)
        .where(*conditions).order_by(ImportJobRow.line).limit(per_page).offset((page - 1) * per_page)).all()
    return PeoplePage(items=[Person(*row) for row in rows], page=page, per_page=per_page, total=total)
