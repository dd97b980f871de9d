"""SCIM provisioning benchmark (issue 20): an identity provider's first sync, over HTTP.

    .venv/bin/python bench/scim.py [--users 10000] [--members 5000] [--database-url URL]

The app is served by gunicorn (2 sync workers) on a fresh database made by the migrations, with
one future session that the group "Everyone" is assigned to. Then, one request at a time, as
Entra ID does it:

1. `--users` users are created, each as Entra does: a GET ?filter=userName eq "..." (nobody
   yet), then a POST (the person is invited: invitation row, queued email, audit events);
2. one PATCH adds the first `--members` of them to "Everyone": the cascade (R2) enrolls each
   in the session and queues their session email; then one PATCH removes one member and one
   adds them back (what a change in the provider sends), which must not cost the group's size;
3. a page through every user with count=1000, as a provider reconciles.

Prints the time of each step (POSTs: median, p95 and rate) and checks what the database holds.
"""
import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from unittest import mock
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.pages import Database, Gunicorn, app_from_environment, free_port, require_gunicorn, server_environment  # noqa: E402

SCIM = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


class Scim:
    """One request a connection, as gunicorn's sync workers close them."""

    def __init__(self, port, token):
        self.port, self.token = port, token

    def send(self, method, path, body=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, "/scim/v2" + path, body=json.dumps(body) if body is not None else None,
                               headers={"Authorization": f"Bearer {self.token}", "Content-Type": SCIM})
            response = connection.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data else None
        finally:
            connection.close()

    def patch(self, path, *operations):
        return self.send("PATCH", path, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                         "Operations": list(operations)})


def prepare(app):
    """Migrations, a token, the group and its future session; returns (token, group id)."""
    from flask_migrate import upgrade

    from lms.enrollment.groups.services import create_group
    from lms.extensions import db, init_migrations
    from lms.programs.cascade import assign_group
    from lms.programs.models import Program, ProgramSession
    from lms.scim.tokens import create_token

    init_migrations(app)
    now = datetime.now(timezone.utc)
    with app.app_context():
        with mock.patch("logging.config.fileConfig"):
            upgrade()
        _, token = create_token("bench", actor=None, now=now)
        group = create_group("Everyone", actor=None, now=now)
        session = ProgramSession(program=Program(title="Onboarding", created_at=now), name="December intake",
                                 starts_at=now + timedelta(days=14), ends_at=now + timedelta(days=15), created_at=now)
        db.session.add(session)
        db.session.flush()
        assign_group(session, group, actor=None, now=now)
        db.session.commit()
        group_id = group.id
        db.session.remove()
        db.engine.dispose()
    return token, group_id


def check(app, users, members):
    from lms.accounts.models import User
    from lms.extensions import db
    from lms.notifications.models import OutboxEmail
    from lms.programs.models import Enrollment

    with app.app_context():
        counted = {name: db.session.scalar(sa.select(sa.func.count()).select_from(model))
                   for name, model in (("users", User), ("enrollments", Enrollment), ("emails", OutboxEmail))}
        db.session.remove()
        db.engine.dispose()
    expected = {"users": users, "enrollments": members, "emails": users + members + 1}  # the member added back
    status = "ok" if counted == expected else f"MISMATCH, expected {expected}"
    print(f"database: {counted['users']} users, {counted['enrollments']} enrollments, "
          f"{counted['emails']} queued emails ({status})")
    return counted == expected


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: a SQLite file)")
    args = parser.parse_args()
    require_gunicorn()
    workdir = Path(tempfile.mkdtemp(prefix="lms-bench-scim-"))
    database = Database("postgresql" if args.database_url else "sqlite", args.users, workdir, args.database_url)
    port = free_port()
    env = server_environment(database.url, workdir, f"http://127.0.0.1:{port}")
    env["LMS_SCIM_RATE_LIMIT"] = "1000000 per minute"
    app = app_from_environment(env)
    server = None
    try:
        token, group_id = prepare(app)
        server = Gunicorn(env, port, workdir / "gunicorn.log")
        client = Scim(port, token)
        print(f"backend: {app.config['SQLALCHEMY_DATABASE_URI'].split(':', 1)[0]}, gunicorn 2 sync workers")

        ids, lookups, posts = [], [], []
        started = time.perf_counter()
        for number in range(args.users):
            email = f"person{number:06}@example.com"
            start = time.perf_counter()
            status, found = client.send("GET", "/Users?filter=" + quote(f'userName eq "{email}"'))
            assert status == 200 and found["totalResults"] == 0, (status, found)
            middle = time.perf_counter()
            status, created = client.send("POST", "/Users", {
                "schemas": [USER_SCHEMA], "userName": email, "active": True, "externalId": f"E{number:06}",
                "name": {"givenName": "Person", "familyName": f"{number:06}"},
                "emails": [{"value": email, "type": "work", "primary": True}]})
            assert status == 201, (status, created)
            lookups.append(middle - start)
            posts.append(time.perf_counter() - middle)
            ids.append(created["id"])
        total = time.perf_counter() - started
        quantiles = statistics.quantiles(posts, n=20)
        print(f"{args.users} users, one at a time (GET filter + POST each): {total:.1f} s, "
              f"{args.users / total:.0f} users/s; POST median {statistics.median(posts) * 1000:.1f} ms, "
              f"p95 {quantiles[18] * 1000:.1f} ms; GET filter median {statistics.median(lookups) * 1000:.1f} ms")

        start = time.perf_counter()
        status, _ = client.patch(f"/Groups/{group_id}",
                                 {"op": "add", "path": "members", "value": [{"value": i} for i in ids[:args.members]]})
        assert status == 204, status
        print(f"one PATCH adding {args.members} members (and enrolling them in the session): "
              f"{time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        status, _ = client.patch(f"/Groups/{group_id}", {"op": "remove", "path": f'members[value eq "{ids[0]}"]'})
        assert status == 204, status
        removed = time.perf_counter() - start
        start = time.perf_counter()
        status, _ = client.patch(f"/Groups/{group_id}", {"op": "add", "path": "members", "value": [{"value": ids[0]}]})
        assert status == 204, status
        print(f"then one member removed (pending enrollment cancelled) and added back (enrolled again), as Entra "
              f"sends them: {removed * 1000:.0f} ms and {(time.perf_counter() - start) * 1000:.0f} ms")

        start, seen, index = time.perf_counter(), 0, 1
        while True:
            status, page = client.send("GET", f"/Users?startIndex={index}&count=1000")
            assert status == 200, status
            seen += len(page["Resources"])
            index += page["itemsPerPage"]
            if index > page["totalResults"]:
                break
        print(f"paging through {seen} users, 1000 a page: {time.perf_counter() - start:.2f} s")
        server.stop()
        server = None
        return 0 if check(app, args.users, args.members) else 1
    finally:
        if server is not None:
            server.stop()
        database.drop()


if __name__ == "__main__":
    sys.exit(main())
