"""Roster imports as background jobs: the ImportJob row is the job (its input, options,
progress and report), so progress survives a page reload and a job whose worker died is
picked up again by the next one (`run_queued_import_jobs`, from the scheduler's due work).
"""
import logging
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from lms.accounts.models import User
from lms.enrollment.models import ImportJob, ImportJobStatus
from lms.enrollment.roster import RosterUnreadable, load_roster
from lms.enrollment.roster_import import defaults_for, run_import
from lms.extensions import db

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=10)
MAX_REPORTED_ERRORS = 5000


def create_import_job(data: bytes, *, source, filename=None, kind="auto", mode="create", strict=False,
                      defaults=None, actor, now) -> ImportJob:
    """Check the roster can be read and queue it. RosterUnreadable says why it cannot."""
    roster = load_roster(data, filename=filename or "", kind=kind, languages=current_app.config["LMS_LANGUAGES"])
    defaults = defaults or defaults_for()
    job = ImportJob(created_by_id=actor.id if actor else None, source=source, filename=filename, mode=mode,
                    is_strict=strict, input_data=data, rows_total=roster.total_rows, created_at=now,
                    options={"kind": kind, "columns": list(roster.columns),
                             "defaults": {**defaults, "deactivate_on": _iso(defaults["deactivate_on"])}})
    db.session.add(job)
    db.session.flush()
    return job


def _iso(day):
    return day.isoformat() if day else None


def _claimable(now):
    """Queued, or running under a lease that ran out (its worker died)."""
    return or_(ImportJob.status == ImportJobStatus.queued,
               (ImportJob.status == ImportJobStatus.running) & (ImportJob.locked_until < now))


def claim_import_job(job_id, *, now) -> bool:
    """Take the job for this worker (queued, or running under an expired lease); commits."""
    claimed = db.session.execute(
        update(ImportJob).where(ImportJob.id == job_id, _claimable(now))
        .values(status=ImportJobStatus.running, locked_until=now + LEASE, started_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return bool(claimed)


def run_import_job(job_id, *, now, actor=None) -> ImportJob | None:
    """Run a queued job to its end, committing its progress after each batch of rows."""
    if not claim_import_job(job_id, now=now):
        return None
    job = db.session.get(ImportJob, job_id)
    options = job.options or {}
    defaults = dict(options.get("defaults") or defaults_for())
    defaults["deactivate_on"] = date.fromisoformat(defaults["deactivate_on"]) if defaults.get("deactivate_on") else None
    try:
        roster = load_roster(job.input_data or b"", filename=job.filename or "", kind=options.get("kind", "auto"),
                             languages=current_app.config["LMS_LANGUAGES"])
        if actor is None and job.created_by_id is not None:
            actor = db.session.get(User, job.created_by_id)

        def progress(done, report):
            _record(job, report, done=done)
            job.locked_until = now + LEASE
            db.session.commit()

        report = run_import(roster, actor=actor, now=now, mode=job.mode, defaults=defaults,
                            strict=job.is_strict, progress=progress)
    except RosterUnreadable as error:
        db.session.rollback()
        _finish(job, now, failure=str(error))
        return job
    except Exception as error:  # the job says it failed; what was committed before stays
        log.exception("import job %s failed", job_id)
        db.session.rollback()
        _finish(job, now, failure=f"The import stopped: {error}")
        return job
    _record(job, report, done=roster.total_rows)
    job.errors = _errors_with_rows(report.errors, roster)
    _finish(job, now)
    return job


def _record(job, report, *, done):
    job.rows_processed = done
    job.created_count, job.updated_count = report.created, report.updated
    job.unchanged_count, job.skipped_count = report.unchanged, report.skipped
    job.rejected_count = len({error.line for error in report.errors})
    job.emails_queued = report.emails_queued


def _errors_with_rows(errors, roster):
    """The report's errors with each rejected row's cells (for "Download rejected rows"); the
    password cell is left out, as the job keeps no password."""
    cells_by_line = {row.line: row.source for row in roster.rows}
    password_at = roster.columns.index("password") if "password" in roster.columns else None
    reported = []
    for error in errors[:MAX_REPORTED_ERRORS]:
        cells = [str(cell) for cell in cells_by_line.get(error.line, [])]
        if password_at is not None and password_at < len(cells):
            cells[password_at] = ""
        reported.append({**error.as_dict(), "cells": cells})
    return reported


def _finish(job, now, failure=None):
    job.status = ImportJobStatus.failed if failure else ImportJobStatus.finished
    job.failure_message = failure
    job.finished_at, job.locked_until = now, None
    job.input_data = None  # the roster may hold passwords: it is not kept once imported
    db.session.commit()


def run_queued_import_jobs(*, now) -> int:
    """Jobs nobody is running (a worker died, or the server restarted mid-import)."""
    waiting = db.session.scalars(select(ImportJob.id).where(_claimable(now)).order_by(ImportJob.id)).all()
    return sum(1 for job_id in waiting if run_import_job(job_id, now=now) is not None)
