"""`lms import` end to end (issue 19): the whole command as an administrator runs it, process
start-up included, on a roster whose groups future sessions use (so the cascade runs).

    .venv/bin/python bench/import_cli.py [--rows 10000] [--runs 3] [--database-url URL]

Builds a migrated database through the command line (`flask db upgrade`, groups Sales and
Support, a program with two future sessions: Sales on both, Support on the second), writes a
roster of --rows people (half in Sales, half in Sales and Support), then runs
`flask --app wsgi lms import ROSTER` --runs times, each into a fresh copy of that database
(SQLite: a file copy; PostgreSQL: a database made from it as a template), and prints each
run's wall time, CPU time and peak memory (the child's ru_maxrss).
Targets: 10,000 rows under 5 s on SQLite, machine idle; 200,000 rows under 300 MB.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
FLASK = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi"]


def flask(env, *args):
    result = subprocess.run([*FLASK, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def set_up(env):
    flask(env, "db", "upgrade")
    for name in ("Sales", "Support"):
        flask(env, "lms", "groups", "create", name)
    flask(env, "lms", "programs", "create", "Onboarding")
    sessions = [json.loads(flask(env, "lms", "sessions", "create", "Onboarding", "--name", name,
                                 "--starts-at", starts, "--json"))["id"]
                for name, starts in (("January", "2099-01-15T09:00"), ("February", "2099-02-15T09:00"))]
    flask(env, "lms", "sessions", "add-group", str(sessions[0]), "Sales")
    for group in ("Sales", "Support"):
        flask(env, "lms", "sessions", "add-group", str(sessions[1]), group)


def write_roster(path, rows):
    with open(path, "w", encoding="utf-8") as out:
        out.write("last_name,first_name,email,labels,send_email,password,language,additional_info,groups\n")
        for number in range(rows):
            groups = "Sales" if number % 2 else "Sales|Support"
            out.write(f"Name{number},First{number},cli{number}@example.com,North | Bench,1,,en,Row {number},{groups}\n")


def timed_import(env, roster):
    """(wall s, CPU s, peak MB) of one `lms import` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    output = flask(env, "lms", "import", str(roster))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if "Errors: 0" not in output:
        sys.exit(f"the import rejected rows:\n{output[:2000]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, after.ru_maxrss / 1024  # the largest child so far: each import is larger than the set-up


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server's URL (a database is made on it)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-cli-"))
    env = {**os.environ, "SECRET_KEY": "bench", "LMS_INSTANCE_PATH": str(workdir / "instance")}
    admin, template = None, f"bench_cli_{os.getpid()}"
    try:
        if args.database_url:
            admin = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{template}"'))
            base = sa.make_url(args.database_url)
            env["DATABASE_URL"] = base.set(database=template).render_as_string(hide_password=False)
        else:
            env["DATABASE_URL"] = f"sqlite:///{workdir / 'template.db'}"
        set_up(env)
        roster = workdir / "roster.csv"
        write_roster(roster, args.rows)
        print(f"backend {'postgresql' if admin else 'sqlite'}, {args.rows:,} rows "
              f"({roster.stat().st_size / 2**20:.1f} MB), cascade into 2 sessions")
        for run in range(1, args.runs + 1):
            run_env = dict(env)
            if admin:
                name = f"{template}_{run}"
                with admin.connect() as connection:
                    connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
                run_env["DATABASE_URL"] = sa.make_url(env["DATABASE_URL"]).set(database=name).render_as_string(
                    hide_password=False)
            else:
                copy = workdir / f"run{run}.db"
                shutil.copyfile(workdir / "template.db", copy)
                run_env["DATABASE_URL"] = f"sqlite:///{copy}"
            wall, cpu, peak = timed_import(run_env, roster)
            print(f"run {run}: {wall:6.2f} s end to end, {cpu:6.2f} s CPU, peak {peak:,.0f} MB", flush=True)
            if not admin:
                copy.unlink()
    finally:
        if admin:
            with admin.connect() as connection:
                for run in range(1, args.runs + 1):
                    connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{template}_{run}" WITH (FORCE)'))
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
