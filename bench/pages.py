"""Page benchmark (issue 19): how each page's cost grows with the platform, 1,000 to 100,000 people.

    .venv/bin/python bench/pages.py [--sizes 1000 10000 100000] [--backends sqlite postgresql]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_pages]
        [--repeat 20] [--timeout 60] [--budget 120] [--pages session outbox ...]

For each backend and size it builds the data set of bench/page_data.py (N people, all invited;
a group of N/2 on the 3 sessions of a program; 2.5 N outbox rows; about N audit events; three
imports, one naming N/2 people; an invite link) in a fresh database made by the migrations
(Flask-Migrate's upgrade, so their indexes exist; VACUUM ANALYZE after on PostgreSQL, ANALYZE on SQLite): a temporary
SQLite file, or a schema of its own in the --database-url database, dropped afterwards. Then:

- queries: in this process, the app against the same database, through Flask's test client
  signed in as the page's reader: the SQL statements of one request (after one warm-up), counted
  with a before_cursor_execute listener;
- latency: the app served by gunicorn (2 sync workers, wsgi:app configured by the environment as
  in production, rate limits raised, no scheduler), each page requested over HTTP by a client
  signed in as the admin, the learner or no one: 2 warm-ups (more, up to 10 or 30 s, until both
  workers have served one: a worker's first request compiles the page's templates), then
  --repeat requests one after the other (fewer when they pass --budget seconds: the table's n),
  reporting the median and p95 latency, the response's size and the workers' CPU time per
  request (utime + stime of the master's children in /proc, before and after). A request that
  passes --timeout seconds is reported as "timeout" and the page given up at that size.

Prints the machine's load average before each size (the machine may be shared: read the CPU
column and its ratio to the smallest size), a table after each size, and at the end a table per
backend with the ratio "CPU / CPU at the smallest size" per page.
"""
import argparse
import http.cookiejar
import importlib.util
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.page_data import ADMIN_EMAIL, LEARNER_EMAIL, PASSWORD, SEARCH_WORD, build_dataset  # noqa: E402
from lms.config import normalize_database_url  # noqa: E402

SECRET_KEY = "bench-pages-secret-key-fixed-so-the-join-token-is-known"
RAISED_LIMIT = "100000 per minute"
WARM_UPS = 2
GUNICORN_TIMEOUT = 120
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Page:
    name: str
    reader: str  # "anonymous", "admin" or "learner"
    path: object  # Dataset -> the URL's path

    def url_of(self, dataset):
        return self.path(dataset)


PAGES = [
    Page("sign-in", "anonymous", lambda d: "/login"),
    Page("join page (invite link)", "anonymous", lambda d: f"/join/{d.join_token}"),
    Page("learner inbox", "learner", lambda d: "/inbox"),
    Page("learner home", "learner", lambda d: "/"),
    Page("admin home", "admin", lambda d: "/"),
    Page("user page", "admin", lambda d: f"/admin/users/{d.user_id}"),
    Page("users list", "admin", lambda d: "/admin/users"),
    Page(f"users search ?q={SEARCH_WORD}", "admin", lambda d: f"/admin/users?q={SEARCH_WORD}"),
    Page("groups list", "admin", lambda d: "/admin/groups"),
    Page("group page (N/2 members)", "admin", lambda d: f"/admin/groups/{d.big_group_id}"),
    Page("session page (N/2 registered)", "admin", lambda d: f"/sessions/{d.session_id}"),
    Page("invitations list", "admin", lambda d: "/admin/invitations"),
    Page("outbox", "admin", lambda d: "/admin/outbox"),
    Page("import page (new)", "admin", lambda d: "/admin/imports/new"),
    Page("imports list", "admin", lambda d: "/admin/imports"),
    Page("import job (N/2 people)", "admin", lambda d: f"/admin/imports/{d.import_job_id}"),
    Page("audit log", "admin", lambda d: "/admin/audit"),
]
READERS = {"admin": ADMIN_EMAIL, "learner": LEARNER_EMAIL}


@dataclass
class Result:
    page: str
    size: int
    median_ms: float | None = None
    p95_ms: float | None = None
    kb: float | None = None
    queries: int | None = None
    cpu_ms: float | None = None
    n: int = 0
    note: str = ""  # "timeout", "HTTP 404", ...


class PageTimeout(Exception):
    pass


# --- databases and the app ----------------------------------------------------------------


class Database:
    """A fresh database for one size: a SQLite file, or a PostgreSQL schema of its own (its
    search_path in the URL, so gunicorn's workers use it too)."""

    def __init__(self, backend, size, workdir, postgresql_url):
        self.backend, self.schema = backend, None
        if backend == "sqlite":
            self.path = workdir / f"pages-{size}.sqlite3"
            self.url = f"sqlite:///{self.path}"
            return
        self.admin_url = normalize_database_url(postgresql_url)
        self.schema = f"bench_pages_{size}_{secrets.token_hex(3)}"
        with sa.create_engine(self.admin_url).begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
        url = sa.make_url(self.admin_url).update_query_dict({"options": f"-csearch_path={self.schema}"})
        self.url = url.render_as_string(hide_password=False)

    def drop(self):
        if self.schema:
            engine = sa.create_engine(self.admin_url)
            with engine.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            engine.dispose()
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def server_environment(database_url, workdir, base_url):
    """The environment gunicorn's workers read their Config from (and this process too)."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("LMS_", "MAIL_", "RATELIMIT_")) and name not in ("DATABASE_URL", "SECRET_KEY",
                                                                                  "BASE_URL")}
    env.update(DATABASE_URL=database_url, SECRET_KEY=SECRET_KEY, BASE_URL=base_url, LMS_INSTANCE_PATH=str(workdir),
               LMS_IMPORT_IN_BACKGROUND="0", LMS_LOGIN_RATE_LIMIT=RAISED_LIMIT, LMS_JOIN_RATE_LIMIT=RAISED_LIMIT,
               LMS_FORGOT_PASSWORD_RATE_LIMIT=RAISED_LIMIT, LMS_FORGOT_PASSWORD_PER_ADDRESS=RAISED_LIMIT)
    return env


def app_from_environment(env):
    """create_app() as wsgi.py calls it, with `env` as this process's environment."""
    for name in [name for name in os.environ if name not in env]:
        del os.environ[name]
    os.environ.update(env)
    from lms import create_app

    return create_app()


def build(app, size):
    """Migrate the empty database, write the data set; (dataset, migrate s, write s, analyze s)."""
    from flask_migrate import upgrade

    from lms.extensions import db, init_migrations

    init_migrations(app)
    with app.app_context():
        start = time.perf_counter()
        with mock.patch("logging.config.fileConfig"):  # migrations/env.py's: Alembic's INFO lines
            upgrade()
        migrated = time.perf_counter()
        dataset = build_dataset(size, secret_key=SECRET_KEY)
        written = time.perf_counter()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM ANALYZE"))
        else:  # the statistics a bulk import leaves (lms.enrollment.rosters.jobs), which the planner reads
            with db.engine.begin() as connection:
                connection.execute(sa.text("ANALYZE"))
        db.session.remove()
    return dataset, migrated - start, written - migrated, time.perf_counter() - written


def dispose_engine(app):
    from lms.extensions import db

    with app.app_context():
        db.engine.dispose()


# --- clients ------------------------------------------------------------------------------


CSRF_INPUT = re.compile(rb'<input[^>]*name="csrf_token"[^>]*>')
VALUE = re.compile(rb'value="([^"]+)"')


def csrf_token(body):
    tag = CSRF_INPUT.search(body)
    value = VALUE.search(tag.group(0)) if tag else None
    if value is None:
        raise SystemExit("the sign-in form has no csrf_token input")
    return value.group(1).decode()


def sign_in(client, email):
    status, body = client.get("/login")
    status = client.post("/login", {"csrf_token": csrf_token(body), "email": email, "password": PASSWORD})
    if status != 303:
        raise SystemExit(f"signing in as {email} failed: HTTP {status}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is the answer (timed as such), not followed


class HttpClient:
    """urllib with a cookie jar; one connection a request, as gunicorn's sync workers close them."""

    def __init__(self, base_url, timeout):
        self.base_url, self.timeout = base_url, timeout
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect)

    def _open(self, path, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base_url + path, data=body, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (TimeoutError, socket.timeout) as error:
            raise PageTimeout() from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, (TimeoutError, socket.timeout)):
                raise PageTimeout() from error
            raise

    def get(self, path):
        return self._open(path)

    def timed_get(self, path):
        start = time.perf_counter()
        status, body = self._open(path)
        return status, body, time.perf_counter() - start

    def post(self, path, data):
        return self._open(path, data)[0]


class TestClient:
    """Flask's test client behind the HttpClient's get and post."""

    def __init__(self, app):
        self.client = app.test_client()

    def get(self, path):
        response = self.client.get(path)
        return response.status_code, response.get_data()

    def post(self, path, data):
        return self.client.post(path, data=data).status_code


# --- gunicorn -----------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_gunicorn():
    if importlib.util.find_spec("gunicorn") is None:
        raise SystemExit("gunicorn is not installed in this environment: run `make install` "
                         "(bench/pages.py serves the app with it, as production does)")


def _no_control_socket():
    """Recent gunicorn (27 here) listens on ~/.gunicorn/gunicorn.ctl unless told not to: a path shared with
    any other gunicorn of the same user, which the bench has no use for."""
    from gunicorn.config import KNOWN_SETTINGS

    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else []


class Gunicorn:
    """gunicorn serving wsgi:app with 2 sync workers; their CPU time read from /proc."""

    def __init__(self, env, port, log_path):
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "sync",
                   "--bind", f"127.0.0.1:{port}", "--timeout", str(GUNICORN_TIMEOUT), "--graceful-timeout", "5",
                   "--chdir", str(ROOT), *_no_control_socket(), "wsgi:app"]
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_until_serving()

    def _wait_until_serving(self, seconds=60):
        deadline = time.monotonic() + seconds
        probe = HttpClient(self.base_url, timeout=5)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if probe.get("/login")[0] == 200 and len(self.workers()) == 2:
                    self.wait_idle()  # the second worker may still be importing the app
                    return
            except (OSError, PageTimeout):
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"gunicorn did not start serving; its log ({self.log_path}):\n"
                         + Path(self.log_path).read_text()[-3000:])

    def workers(self):
        """The master's children: {pid: CPU seconds (user + system)}."""
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found[int(entry)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return found

    def wait_idle(self, longest=GUNICORN_TIMEOUT + 10):
        """Until the workers use no CPU for half a second (a timed-out request still running,
        a worker booting)."""
        deadline = time.monotonic() + longest
        before = self.workers()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.workers()
            if now == before:
                return
            before = now

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


# --- measuring ----------------------------------------------------------------------------


def count_queries(app, dataset, pages, timeout):
    """{page name: (SQL statements of one request, HTTP status)}, in this process."""
    from sqlalchemy import event

    from lms.extensions import db

    with app.app_context():
        engine = db.engine
    statements = []

    def count(*args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    clients = {"anonymous": TestClient(app)}
    for reader, email in READERS.items():
        clients[reader] = TestClient(app)
        sign_in(clients[reader], email)
    counts = {}
    try:
        for page in pages:
            client, path = clients[page.reader], page.url_of(dataset)
            statements.clear()
            start = time.perf_counter()
            status, _ = client.get(path)  # warm-up; its count stands in when it took too long
            if time.perf_counter() - start < timeout:
                statements.clear()
                status, _ = client.get(path)
            counts[page.name] = (len(statements), status)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return counts


def warm_up(server, client, path, most=10, seconds=30):
    """WARM_UPS requests, and more (up to `most`, for up to `seconds`) until each worker has
    served some: a worker's first request of a page compiles its templates."""
    start, began = server.workers(), time.perf_counter()
    for number in range(1, most + 1):
        client.get(path)
        now = server.workers()
        if number >= WARM_UPS and (time.perf_counter() - began > seconds or (
                set(now) == set(start) and all(now[pid] > start[pid] for pid in start))):
            return


def time_page(server, client, path, args):
    """Result fields for one page over HTTP: warm-ups, then up to --repeat timed requests."""
    try:
        warm_up(server, client, path)
        before = server.workers()
        seconds, sizes, statuses = [], [], set()
        started = time.perf_counter()
        for _ in range(args.repeat):
            status, body, elapsed = client.timed_get(path)
            seconds.append(elapsed)
            sizes.append(len(body))
            statuses.add(status)
            if time.perf_counter() - started > args.budget and len(seconds) >= 3:
                break
        time.sleep(0.05)  # the last response's logging and close
        after = server.workers()
    except PageTimeout:
        server.wait_idle()
        return {"note": f"timeout (> {args.timeout:g} s)"}
    ordered = sorted(seconds)
    cpu = None
    if set(before) == set(after):  # no worker restarted meanwhile
        cpu = (sum(after.values()) - sum(before.values())) / len(seconds) * 1000
    return {"median_ms": statistics.median(seconds) * 1000, "p95_ms": ordered[-(-len(ordered) * 95 // 100) - 1] * 1000,
            "kb": statistics.median(sizes) / 1024, "cpu_ms": cpu, "n": len(seconds),
            "note": "" if statuses == {200} else "HTTP " + "/".join(str(s) for s in sorted(statuses))}


def measure_size(backend, size, pages, args, workdir):
    """Build one size, count queries in-process, time the pages through gunicorn."""
    one, five, fifteen = os.getloadavg()
    print(f"\n## {backend}, {size:,} people (load average {one:.2f} {five:.2f} {fifteen:.2f}, "
          f"{os.cpu_count()} cores)", flush=True)
    database = Database(backend, size, workdir, args.database_url)
    app = server = None
    try:
        port = free_port()
        env = server_environment(database.url, workdir, f"http://127.0.0.1:{port}")
        app = app_from_environment(env)
        dataset, migrate_s, write_s, analyze_s = build(app, size)
        rows = sum(dataset.rows.values())
        print(f"built in {migrate_s + write_s + analyze_s:.1f} s: migrations {migrate_s:.1f} s, {rows:,} rows "
              f"written in {write_s:.1f} s ({rows / write_s:,.0f} rows/s)"
              + (f", VACUUM ANALYZE {analyze_s:.1f} s" if backend == "postgresql" else ""), flush=True)
        start = time.perf_counter()
        queries = count_queries(app, dataset, pages, args.timeout)
        print(f"queries counted in-process in {time.perf_counter() - start:.1f} s", flush=True)
        server = Gunicorn(env, port, workdir / f"gunicorn-{backend}-{size}.log")
        clients = {"anonymous": HttpClient(server.base_url, args.timeout)}
        for reader, email in READERS.items():
            clients[reader] = HttpClient(server.base_url, args.timeout)
            sign_in(clients[reader], email)
        results = []
        for page in pages:
            result = Result(page.name, size, **time_page(server, clients[page.reader], page.url_of(dataset), args))
            result.queries, status = queries[page.name]
            if status != 200 and not result.note:
                result.note = f"HTTP {status} in-process"
            results.append(result)
            print(f"  {page.name}: {format_cell(result.median_ms)} ms median {result.note}", flush=True)
        return results
    finally:
        if server is not None:
            server.stop()
        if app is not None:
            dispose_engine(app)
        database.drop()


# --- printing -----------------------------------------------------------------------------


def format_cell(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def size_label(size):
    return f"{size // 1000:g}k" if size >= 1000 and size % 1000 == 0 else f"{size:,}"


def table(backend, results, sizes):
    """The markdown table: a row per page and size, pages in the bench's order."""
    smallest = min(sizes)
    lines = [f"### {backend}", "",
             f"| page | size | median ms | p95 ms | KB | queries | worker CPU ms | CPU / CPU at {size_label(smallest)} "
             f"| n |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by_key = {(result.page, result.size): result for result in results}
    for page in dict.fromkeys(result.page for result in results):
        base = by_key.get((page, smallest))
        for size in sizes:
            result = by_key.get((page, size))
            if result is None:
                continue
            ratio = None
            if base is not None and base.cpu_ms and result.cpu_ms is not None:
                ratio = result.cpu_ms / base.cpu_ms
            median = result.note if result.median_ms is None else format_cell(result.median_ms)
            queries = format_cell(result.queries)
            if result.median_ms is not None and result.note:
                median += f" ({result.note})"
            lines.append(f"| {page} | {size_label(size)} | {median} | {format_cell(result.p95_ms)} | "
                         f"{format_cell(result.kb, 1)} | {queries} | {format_cell(result.cpu_ms, 1)} | "
                         f"{'–' if ratio is None else f'{ratio:.1f} x'} | {result.n} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--backends", nargs="+", choices=["sqlite", "postgresql"], default=None,
                        help="default: sqlite, and postgresql when --database-url is given")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL database to make schemas in")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page (after 2 warm-ups)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds a request may take")
    parser.add_argument("--budget", type=float, default=120,
                        help="seconds of timed requests per page, past which fewer than --repeat are made (at least 3)")
    parser.add_argument("--pages", nargs="+", default=None, help="only the pages whose name holds one of these words")
    args = parser.parse_args()
    backends = args.backends or (["sqlite", "postgresql"] if args.database_url else ["sqlite"])
    if "postgresql" in backends and not args.database_url:
        parser.error("--backends postgresql needs --database-url")
    require_gunicorn()
    pages = [page for page in PAGES if not args.pages or any(word in page.name for word in args.pages)]
    sizes = sorted(args.sizes)
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-pages-"))
    from gunicorn import __version__ as gunicorn_version

    print(f"# bench/pages.py: sizes {', '.join(f'{s:,}' for s in sizes)}; {args.repeat} requests a page after "
          f"{WARM_UPS} warm-ups; gunicorn {gunicorn_version}, 2 sync workers; work directory {workdir}")
    tables = []
    for backend in backends:
        results = []
        for size in sizes:
            measured = measure_size(backend, size, pages, args, workdir)
            results += measured
            print("\n" + table(f"{backend}, {size:,} people", measured, [size]), flush=True)
        tables.append(table(backend, results, sizes))
    print("\n# Results\n")
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
