"""Cascade benchmark (R11): a group of 10,000 assigned to a future session, and 1,000 users
added to a group that 20 sessions use (20,000 enrollments), everything committed, with the
invitation emails queued.

    .venv/bin/python bench/cascade.py [--database-url URL]

Targets (issue 4): under 2 s and under 3 s on this 2-core machine.
"""
import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.dispatch import make_app  # noqa: E402
from lms.accounts.models import User, UserStatus  # noqa: E402
from lms.enrollment.groups.services import add_group_members, create_group  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.notifications.models import OutboxEmail  # noqa: E402
from lms.programs.cascade import assign_group  # noqa: E402
from lms.programs.models import Enrollment, Program, ProgramSession  # noqa: E402


def make_users(prefix, count, now):
    rows = [{"email": f"{prefix}{number}@example.com", "status": UserStatus.active, "first_name": "Bench",
             "last_name": f"{number}", "language": "en", "additional_info": "", "created_at": now,
             "updated_at": now} for number in range(count)]
    for start in range(0, count, 5000):
        db.session.execute(sa.insert(User), rows[start:start + 5000])
    return db.session.scalars(sa.select(User.id).where(User.email.like(f"{prefix}%"))).all()


def make_session(program, name, now):
    session = ProgramSession(program=program, name=name, starts_at=now + timedelta(days=30),
                             ends_at=now + timedelta(days=31), created_at=now)
    db.session.add(session)
    return session


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args()
    app, url, schema = make_app(args.database_url, Path(tempfile.mkdtemp(prefix="lms-bench-")))
    now = datetime.now(timezone.utc)
    try:
        with app.app_context():
            db.create_all()
            program = Program(title="Bench", created_at=now)
            db.session.add(program)

            # 1. A group of 10,000 assigned to a future session.
            member_ids = make_users("member", args.members, now)
            big = create_group("Big group", actor=None, now=now)
            add_group_members(big, member_ids, actor=None, now=now)
            session = make_session(program, "Future session", now)
            db.session.commit()
            emails_before = count(OutboxEmail)
            start = time.perf_counter()
            invited = assign_group(session, big, actor=None, now=now)
            db.session.commit()
            assign_seconds = time.perf_counter() - start
            queued = count(OutboxEmail) - emails_before

            # 2. 1,000 users added to a group that 20 sessions use.
            newcomer_ids = make_users("newcomer", 1000, now)
            shared = create_group("Shared group", actor=None, now=now)
            sessions = [make_session(program, f"Session {number}", now) for number in range(20)]
            db.session.flush()
            for each in sessions:
                assign_group(each, shared, actor=None, now=now)
            db.session.commit()
            enrollments_before, emails_before = count(Enrollment), count(OutboxEmail)
            start = time.perf_counter()
            add_group_members(shared, newcomer_ids, actor=None, now=now)
            db.session.commit()
            add_seconds = time.perf_counter() - start
            enrolled = count(Enrollment) - enrollments_before
            queued_2 = count(OutboxEmail) - emails_before
            db.session.remove()
    finally:
        if schema:
            with sa.create_engine(url).begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    print(f"backend                                 {'postgresql' if args.database_url else 'sqlite'}")
    print(f"assign a group of {args.members:,} to a session     {assign_seconds:.2f} s  "
          f"({invited:,} enrolled, {queued:,} emails queued; target < 2 s)")
    print(f"add 1,000 users to a group of 20 sessions {add_seconds:.2f} s  "
          f"({enrolled:,} enrolled, {queued_2:,} emails queued; target < 3 s)")


if __name__ == "__main__":
    main()
