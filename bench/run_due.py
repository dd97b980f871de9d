"""`lms run-due` benchmark: 20,000 program (session invitation) emails due at a session's
start, sent by the real command, in its own process, to a local SMTP server.

    .venv/bin/python bench/run_due.py [--emails 20000] [--database-url URL]

Seeds a group of N learners assigned to a session starting tomorrow (so N emails wait for
its start, R4), then times `flask --app wsgi lms run-due --at <start> --json` from process
start to exit, and checks the SMTP server received every email.

Target (issue 4): at least 500 emails/s on this 2-core machine.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.cascade import make_users  # noqa: E402
from bench.dispatch import SmtpSink, make_app  # noqa: E402
from lms.enrollment.groups.services import add_group_members, create_group  # noqa: E402
from lms.extensions import db  # noqa: E402
from lms.programs.cascade import assign_group  # noqa: E402
from lms.programs.models import Program, ProgramSession  # noqa: E402


def seed(app, count, now):
    with app.app_context():
        db.create_all()
        program = Program(title="Onboarding", description="Bench program", created_at=now)
        session = ProgramSession(program=program, name="Spring cohort", starts_at=now + timedelta(days=1),
                                 ends_at=now + timedelta(days=2), created_at=now)
        db.session.add_all([program, session])
        group = create_group("Everyone", actor=None, now=now)
        add_group_members(group, make_users("learner", count, now), actor=None, now=now)
        db.session.flush()
        assign_group(session, group, actor=None, now=now)
        db.session.commit()
        starts_at = session.starts_at
        db.session.remove()
    return starts_at


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-"))
    app, url, schema = make_app(args.database_url, workdir)
    sink = SmtpSink()
    try:
        starts_at = seed(app, args.emails, datetime.now(timezone.utc))
        database_url = url if not schema else f"{url}?options=-csearch_path%3D{schema}"
        environment = {**os.environ, "DATABASE_URL": database_url, "LMS_INSTANCE_PATH": str(workdir),
                       "SECRET_KEY": app.config["SECRET_KEY"], "MAIL_SERVER": "127.0.0.1",
                       "MAIL_PORT": str(sink.port)}
        command = [str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "lms", "run-due",
                   "--at", starts_at.isoformat(), "--json"]
        start = time.perf_counter()
        finished = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        delivered = sink.count
    finally:
        sink.stop()
        if schema:
            with sa.create_engine(url).begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    if finished.returncode != 0:
        sys.exit(f"lms run-due failed:\n{finished.stderr}")
    report = json.loads(finished.stdout)
    print(f"backend            {'postgresql' if args.database_url else 'sqlite'}")
    print(f"lms run-due        {seconds:.2f} s for {report['emails_sent']:,} emails sent "
          f"({delivered:,} received by the SMTP server)")
    print(f"rate               {report['emails_sent'] / seconds:,.0f} emails/s  (target: at least 500)")


if __name__ == "__main__":
    main()
