"""Roster imports as background jobs: the job row carries progress and the report, keeps no
password once done, and a job left behind by a dead worker is finished by the due work."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from lms.accounts.models import User, UserStatus
from lms.due_work import run_due
from lms.enrollment.rosters import importer as roster_import
from lms.enrollment.rosters.importer import defaults_for
from lms.enrollment.rosters.jobs import create_import_job, run_import_job
from lms.enrollment.rosters.models import ImportJob, ImportJobStatus
from lms.enrollment.rosters.parser import RosterUnreadable
from lms.extensions import db


def job_row(job_id):
    db.session.expire_all()
    return db.session.get(ImportJob, job_id)


def queue(text, now, **options):
    job = create_import_job(text.encode(), source="paste", actor=None, now=now, **options)
    db.session.commit()
    return job.id


def test_a_job_reports_progress_after_each_batch_and_ends_on_its_report(app, monkeypatch, now):
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    seen = []
    original = db.session.commit

    def watch_commit():
        original()
        job = db.session.get(ImportJob, job_id)
        seen.append((job.status, job.rows_processed))

    lines = [f"Last{n}, First{n}, person{n}@example.com" for n in range(25)] + ["X, Y, not-an-email"]
    job_id = queue("\n".join(lines), now)
    assert job_row(job_id).rows_total == 26

    monkeypatch.setattr(db.session, "commit", watch_commit)
    run_import_job(job_id, now=now)
    monkeypatch.undo()

    assert (ImportJobStatus.running, 10) in seen and (ImportJobStatus.running, 20) in seen
    job = job_row(job_id)
    assert job.status == ImportJobStatus.finished and job.rows_processed == 26
    assert (job.created_count, job.rejected_count, job.emails_queued) == (25, 1, 25)
    assert job.errors == [{"line": 26, "column": "email", "message": job.errors[0]["message"],
                           "cells": ["X", "Y", "not-an-email"]}]


def test_a_finished_job_keeps_no_password(app, now):
    job_id = queue("email,password\nann@example.com,long-enough-1\nbob@example.com,short", now)

    run_import_job(job_id, now=now)

    job = job_row(job_id)
    assert job.input_data is None
    assert job.errors[0]["line"] == 3 and job.errors[0]["column"] == "password"
    assert job.errors[0]["cells"] == ["bob@example.com", ""]
    assert db.session.scalar(select(User.status).where(User.email == "ann@example.com")) == UserStatus.active


def test_the_jobs_defaults_and_mode_apply(app, make_user, make_group, now):
    make_user("kim@example.com", first_name="Kim", language="en")
    make_group("Newcomers")
    job_id = queue("email,first_name\nkim@example.com,Kimberly\nnew@example.com,New", now, mode="update",
                   defaults=defaults_for(language="fr", groups=["Newcomers"], send_email=False))

    run_import_job(job_id, now=now)

    job = job_row(job_id)
    assert (job.created_count, job.updated_count) == (1, 1)
    new = db.session.scalar(select(User).where(User.email == "new@example.com"))
    assert new.language == "fr" and job.emails_queued == 0


def test_a_job_cannot_run_twice_at_once(app, now):
    job_id = queue("A, B, once@example.com", now)

    assert run_import_job(job_id, now=now) is not None
    assert run_import_job(job_id, now=now) is None
    assert job_row(job_id).created_count == 1


def test_a_job_whose_worker_died_is_finished_by_the_due_work_after_its_lease(app, now):
    job_id = queue("A, B, resumed@example.com", now)
    db.session.execute(ImportJob.__table__.update().where(ImportJob.id == job_id).values(
        status=ImportJobStatus.running, locked_until=now + timedelta(minutes=10)))
    db.session.commit()

    assert run_due(now=now + timedelta(minutes=5))["imports_resumed"] == 0
    assert run_due(now=now + timedelta(minutes=11))["imports_resumed"] == 1

    assert job_row(job_id).status == ImportJobStatus.finished
    assert db.session.scalar(select(User.id).where(User.email == "resumed@example.com")) is not None


def test_a_file_that_is_not_a_roster_is_refused_before_any_job_exists(app, now):
    with pytest.raises(RosterUnreadable, match="not a text or CSV roster"):
        create_import_job(b"\x00\x01binary", source="csv", filename="photo.csv", actor=None, now=now)
    assert db.session.scalar(select(ImportJob.id)) is None
