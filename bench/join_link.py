"""Invite-link burst benchmark (issue 6): a QR code on a slide, a room scanning it at once.

    .venv/bin/python bench/join_link.py [--people 500] [--places 400] [--threads 12] [--database-url URL]

N people who already have an account join a group link with fewer places than people, each in
a thread of its own database session (as web workers would), while the group is assigned to two
future sessions (so every join cascades into two enrollments and their queued emails). Prints
the wall time, joins per second, the slowest join, and checks that exactly `places` joined.
Then the same count of newcomers confirm sign-ups (account creation with a scrypt hash already
computed at the form, then the join), which is what a confirmation click costs.
"""
import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.dispatch import make_app  # noqa: E402
from lms.accounts.models import User, UserStatus  # noqa: E402
from lms.enrollment.groups.models import GroupMembership  # noqa: E402
from lms.enrollment.groups.services import create_group  # noqa: E402
from lms.enrollment.links.models import InviteLink, LinkSignup  # noqa: E402
from lms.enrollment.links.services import (  # noqa: E402
    confirm_signup,
    create_link,
    join_link,
    request_signup,
)
from lms.errors import DomainError  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.programs.cascade import assign_group  # noqa: E402
from lms.programs.models import Enrollment, Program, ProgramSession  # noqa: E402


def setup(people, places, now):
    group = create_group("Burst", actor=None, now=now)
    program = Program(title="Bench", created_at=now)
    for days in (7, 14):
        session = ProgramSession(program=program, name=f"Run {days}", starts_at=now + timedelta(days=days),
                                 ends_at=now + timedelta(days=days, hours=8), created_at=now)
        db.session.add(session)
        db.session.flush()
        assign_group(session, group, actor=None, now=now)
    db.session.execute(sa.insert(User), [
        {"email": f"member{n}@example.com", "status": UserStatus.active, "first_name": "M", "last_name": str(n),
         "language": "en", "additional_info": "", "password_hash": "x", "created_at": now, "updated_at": now}
        for n in range(people)])
    link = create_link(actor=None, now=now, target="group", group=group, max_uses=places)
    db.session.commit()
    user_ids = db.session.scalars(sa.select(User.id).where(User.email.like("member%"))).all()
    return link.id, user_ids


def burst(app, link_id, work, threads):
    """Run work(link, item) for every item in threads, each with its own session; (seconds, joined, slowest)."""
    times, joined, lock = [], [0], threading.Lock()

    def one(item):
        with app.app_context():
            start = time.perf_counter()
            try:
                work(db.session.get(InviteLink, link_id), item)
                db.session.commit()
                ok = 1
            except DomainError:
                db.session.rollback()
                ok = 0
            with lock:
                times.append(time.perf_counter() - start)
                joined[0] += ok

    def run(items):
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, items))
        return time.perf_counter() - start

    return run, times, joined


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--places", type=int, default=400)
    parser.add_argument("--threads", type=int, default=12,
                        help="concurrent joins; keep it under the pool's 15 connections, as web workers do")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    app, url, schema = make_app(args.database_url, Path(tempfile.mkdtemp(prefix="lms-bench-")))
    backend = "PostgreSQL" if args.database_url else "SQLite"
    try:
        with app.app_context():
            db.create_all()
            now = datetime.now(timezone.utc)
            link_id, user_ids = setup(args.people, args.places, now)

        run, times, joined = burst(app, link_id, lambda link, user_id: join_link(
            link, db.session.get(User, user_id), now=now), args.threads)
        seconds = run(user_ids)
        with app.app_context():
            members = db.session.scalar(sa.select(sa.func.count()).select_from(GroupMembership))
            enrollments = db.session.scalar(sa.select(sa.func.count()).select_from(Enrollment))
            uses = db.session.get(InviteLink, link_id).use_count
        assert joined[0] == members == uses == args.places, (joined[0], members, uses)
        assert enrollments == 2 * args.places
        print(f"{backend}: {args.people} existing accounts on a {args.places}-place group link, "
              f"{args.threads} threads: {seconds:.2f} s, {args.people / seconds:.0f} joins/s, "
              f"median {statistics.median(times) * 1000:.1f} ms, slowest {max(times) * 1000:.0f} ms; "
              f"{members} members, {enrollments} enrollments, {args.people - args.places} refused")

        with app.app_context():
            link = create_link(actor=None, now=now, target="group", group=db.session.get(InviteLink, link_id).group)
            new_link_id = link.id
            for n in range(args.places):
                request_signup(link, email=f"new{n}@example.com", first_name="N", last_name=str(n),
                               password="bench-password", language="en", now=now)
            db.session.commit()
            signup_ids = db.session.scalars(sa.select(LinkSignup.id)).all()
        run, times, joined = burst(app, new_link_id, lambda link, signup_id: confirm_signup(
            db.session.get(LinkSignup, signup_id), now=now), args.threads)
        seconds = run(signup_ids)
        assert joined[0] == len(signup_ids)
        print(f"{backend}: {len(signup_ids)} newcomers confirming, {args.threads} threads: {seconds:.2f} s, "
              f"{len(signup_ids) / seconds:.0f} confirmations/s, median {statistics.median(times) * 1000:.1f} ms, "
              f"slowest {max(times) * 1000:.0f} ms")
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if schema:
            with sa.create_engine(url).begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
