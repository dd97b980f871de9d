"""Roster imports as background jobs: the job row carries progress and the report, keeps no
password once done, and a job left behind by a dead worker is finished by the due work."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from lms.accounts.models import User, UserStatus
from lms.due_work import run_due
from lms.enrollment.rosters import importer as roster_import
from lms.enrollment.rosters.importer import defaults_for
from lms.enrollment.rosters.jobs import claim_import_job, create_import_job, run_import_job
from lms.enrollment.rosters.models import ImportJob, ImportJobStatus
from lms.enrollment.rosters.parser import RosterUnreadable
from lms.extensions import db
from tests.conftest import Clock, count, ended_process_id, user_of, worker_at


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


class Crash(BaseException):
    """The process dies here (kill -9): no handler runs, nothing more is committed."""


def roster_of(count):
    return "\n".join(f"Last{number}, First{number}, person{number}@example.com" for number in range(count))


def crash_in_batch(monkeypatch, number):
    writes = roster_import._write

    def write(batch, *args, **kwargs):
        write.calls += 1
        if write.calls == number:
            raise Crash()
        return writes(batch, *args, **kwargs)

    write.calls = 0
    monkeypatch.setattr(roster_import, "_write", write)


def test_a_job_whose_worker_stopped_beating_is_taken_over_once_it_counts_as_gone(app, now):
    job_id = queue("A, B, resumed@example.com", now)
    clock = Clock()
    frozen = worker_at(clock)
    assert claim_import_job(job_id, now=now, worker=frozen)
    other = worker_at(clock)

    clock.advance(seconds=29)
    assert run_due(now=now, worker=other)["imports_resumed"] == 0
    clock.advance(seconds=2)
    assert run_due(now=now, worker=other)["imports_resumed"] == 1

    assert job_row(job_id).status == ImportJobStatus.finished
    assert user_of("resumed@example.com") is not None


def test_a_job_whose_worker_beats_is_never_taken_over_however_long_it_runs(app, now):
    job_id = queue("A, B, kept@example.com", now)
    clock = Clock()
    busy = worker_at(clock)
    claim_import_job(job_id, now=now, worker=busy)
    other = worker_at(clock)
    for _ in range(20):  # ten minutes
        clock.advance(seconds=30)
        busy.beat()
        assert run_import_job(job_id, now=now, worker=other) is None
    assert user_of("kept@example.com") is None


def test_a_job_killed_mid_import_resumes_at_once_and_reports_every_row_it_created(app, monkeypatch, now):
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    job_id = queue(roster_of(25), now)
    crash_in_batch(monkeypatch, 2)
    killed = worker_at(Clock(), pid=ended_process_id())
    with pytest.raises(Crash):
        run_import_job(job_id, now=now, worker=killed)
    db.session.rollback()
    assert (job_row(job_id).status, job_row(job_id).rows_processed, count(User)) == (ImportJobStatus.running, 10, 10)

    monkeypatch.undo()
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    assert run_due(now=now)["imports_resumed"] == 1  # at once: the killed process is gone

    job = job_row(job_id)
    assert (job.status, job.created_count, job.skipped_count, job.rows_processed) == (ImportJobStatus.finished, 25, 0, 25)
    assert job.emails_queued == 25 and count(User) == 25
    assert job.started_at == now  # the resumed job keeps the start of its first run


def test_two_workers_racing_for_one_job_write_each_row_once(app, now):
    job_id = queue(roster_of(40), now)
    db.session.remove()
    start = threading.Barrier(2)

    def run():
        with app.app_context():
            start.wait(timeout=30)
            return run_import_job(job_id, now=now) is not None

    with ThreadPoolExecutor(max_workers=2) as pool:
        ran = [future.result(timeout=120) for future in [pool.submit(run) for _ in range(2)]]

    assert sorted(ran) == [False, True]
    job = job_row(job_id)
    assert (job.status, job.created_count, job.failure_message) == (ImportJobStatus.finished, 40, None)
    assert count(User) == 40


def test_a_strict_job_is_all_or_nothing_even_when_it_stops_midway(app, monkeypatch, now):
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    job_id = queue(roster_of(25), now, strict=True)
    crash_in_batch(monkeypatch, 3)
    with pytest.raises(Crash):
        run_import_job(job_id, now=now, worker=worker_at(Clock(), pid=ended_process_id()))
    db.session.rollback()
    assert count(User) == 0  # the first two batches were not committed either

    monkeypatch.undo()
    assert run_due(now=now)["imports_resumed"] == 1
    assert (job_row(job_id).created_count, count(User)) == (25, 25)


def test_a_job_the_database_stops_says_so_in_a_sentence_without_sql_or_password_hashes(app, monkeypatch, now):
    from sqlalchemy.exc import IntegrityError

    monkeypatch.setattr(roster_import, "BATCH_SIZE", 10)
    job_id = queue(roster_of(25), now)
    writes = roster_import._write

    def write(batch, *args, **kwargs):
        write.calls += 1
        if write.calls == 2:
            raise IntegrityError("INSERT INTO users (email, password_hash) VALUES (?, ?)",
                                 ("person12@example.com", "scrypt:32768:8:1$salt$hash"), Exception("UNIQUE"))
        return writes(batch, *args, **kwargs)

    write.calls = 0
    monkeypatch.setattr(roster_import, "_write", write)
    job = run_import_job(job_id, now=now)

    assert job.status == ImportJobStatus.failed
    assert job.failure_message == (
        "The import stopped after 10 of 25 rows because the database refused a change (an account may have been "
        "changed meanwhile). The rows before were imported; import the file again (existing accounts are matched "
        "by email) to finish it.")
    assert count(User) == 10


def test_a_file_that_is_not_a_roster_is_refused_before_any_job_exists(app, now):
    with pytest.raises(RosterUnreadable, match="not a text or CSV roster"):
        create_import_job(b"\x00\x01binary", source="csv", filename="photo.csv", actor=None, now=now)
    assert db.session.scalar(select(ImportJob.id)) is None
