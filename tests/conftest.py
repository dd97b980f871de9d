"""Fixtures: the app on each database backend, clients per role, factories, a fixed clock.

The suite runs on SQLite, and also on PostgreSQL when TEST_DATABASE_URL is set (each run in a
schema of its own, dropped at the end). Tests that take `app` run once per backend.
"""
import hashlib
import os
import secrets
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from werkzeug.security import generate_password_hash

from lms import create_app
from lms.accounts.models import Role, User, UserLabel, UserStatus
from lms.config import config_for_testing, normalize_database_url
from lms.extensions import db

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
PASSWORD = "correct-horse-battery"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
_HASHES = {}


class CsrfClient(FlaskClient):
    """A test client that sends a valid CSRF token the way htmx does (X-CSRFToken header).

    Pass csrf=False to send a request without it, as a forged form would.
    """

    def open(self, *args, **kwargs):
        send_token = kwargs.pop("csrf", True)
        method = kwargs.get("method", "GET")
        if send_token and method not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        # A fresh app context per request, as in production: `g` (and Flask-Login's cached
        # user in it) and the database session are not shared with the test or other clients.
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def csrf_token(self):
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", hashlib.sha1(os.urandom(64)).hexdigest())
        serializer = URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token")
        return serializer.dumps(raw)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def _app(backend, tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    if backend == "sqlite":
        url, engine_options = f"sqlite:///{instance / 'test.sqlite3'}", {}
    else:
        url = normalize_database_url(os.environ["TEST_DATABASE_URL"])
        schema = f"lms_test_{os.getpid()}_{secrets.token_hex(4)}"
        admin_engine = sa.create_engine(url)
        with admin_engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine_options = {"connect_args": {"options": f"-csearch_path={schema}"}}
    config = config_for_testing(str(instance), url)
    config.SQLALCHEMY_ENGINE_OPTIONS = {**config.SQLALCHEMY_ENGINE_OPTIONS, **engine_options}
    app = create_app(config)
    app.test_client_class = CsrfClient
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.drop_all()
        db.engine.dispose()
    if backend == "postgresql":
        with admin_engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


@pytest.fixture
def app(_app):
    """The app with an app context pushed and an empty database afterwards."""
    with _app.app_context():
        yield _app
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def password_hash(password):
    if password not in _HASHES:
        _HASHES[password] = generate_password_hash(password)
    return _HASHES[password]


def new_user(email, *, role=Role.learner, status=UserStatus.active, password=PASSWORD, first_name="Test",
             last_name="", labels=(), now=NOW, **fields):
    """Create and commit a user (in the app context that is active); no password when None."""
    user = User(
        email=email.lower(),
        first_name=first_name,
        last_name=last_name,
        role=role,
        status=status,
        password_hash=password_hash(password) if password else None,
        created_at=now,
        updated_at=now,
        **fields,
    )
    user.label_rows = [UserLabel(label=label) for label in labels]
    db.session.add(user)
    db.session.commit()
    return user


def user_of(email):
    """The user with this email as the database has it now, or None."""
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.email == email))


def signs_in(app, email, password):
    """Whether a new browser signs in with this email and password."""
    return app.test_client().post("/login", data={"email": email, "password": password}).status_code == 303


def database_dump(*tables):
    """Every row of these tables as the database holds them, read with SQL (what a copy of the
    database shows): where a test looks for a secret that must not be kept."""
    db.session.expire_all()
    return " ".join(repr(db.session.execute(sa.text(f"SELECT * FROM {table}")).all()) for table in tables)


def count(model):
    """How many rows the table of `model` has now."""
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def make_user(app):
    """Create and commit a user; active with PASSWORD unless told otherwise."""
    counter = iter(range(1, 10_000))

    def make(email=None, *, last_name=None, **fields):
        number = next(counter)
        return new_user(email or f"user{number}@example.com",
                        last_name=last_name if last_name is not None else f"User{number}", **fields)

    return make


@pytest.fixture
def make_group(app):
    from lms.enrollment.groups.services import add_group_members, create_group

    def make(name=None, members=()):
        group = create_group(name or f"Group {secrets.token_hex(3)}", actor=None, now=NOW)
        add_group_members(group, [member.id for member in members], actor=None, now=NOW)
        db.session.commit()
        return group

    return make


@pytest.fixture
def make_session(app):
    """A program session with the given start (and end), optionally trained by `trainer`."""
    from datetime import timedelta

    from lms.programs.models import Program, ProgramSession

    def make(starts_at=NOW + timedelta(days=7), ends_at=None, trainer=None, name="Session"):
        program = Program(title=f"Program {secrets.token_hex(3)}", created_at=NOW)
        session = ProgramSession(program=program, name=name, starts_at=starts_at,
                                 ends_at=ends_at or starts_at + timedelta(days=1), created_at=NOW)
        if trainer is not None:
            session.trainers.append(trainer)
        db.session.add(session)
        db.session.commit()
        return session

    return make


def login(client, user, password=PASSWORD):
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


@pytest.fixture
def admin(make_user):
    return make_user("admin@example.com", role=Role.admin, first_name="Ada", last_name="Admin")


@pytest.fixture
def admin_client(app, admin):
    return login(app.test_client(), admin)


@pytest.fixture
def manager_client(app, make_user):
    return login(app.test_client(), make_user("manager@example.com", role=Role.manager))


@pytest.fixture
def learner_client(app, make_user):
    return login(app.test_client(), make_user("learner@example.com"))


@pytest.fixture
def rate_limit(app, monkeypatch):
    """Set a rate limit for this test; every count starts from zero and is forgotten after."""
    from lms.extensions import limiter

    def set_limit(name, value):
        monkeypatch.setitem(app.config, name, value)
        limiter.reset()

    yield set_limit
    limiter.reset()


def htmx_headers(target):
    """Headers of an htmx request that swaps the element with id `target`."""
    return {"HX-Request": "true", "HX-Target": target, "HX-Current-URL": "http://localhost/"}


class RecordingHandler:
    """An aiosmtpd handler that keeps every message it accepts, parsed, and can refuse some."""

    def __init__(self):
        self.messages = []
        self.refused_recipients = set()
        self.peers = set()  # (address, port) of each client connection that delivered a message

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refused_recipients:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import email
        import email.policy

        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        self.peers.add(session.peer)
        return "250 Message accepted for delivery"


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    """A real SMTP server on loopback (aiosmtpd) that can be stopped and started again."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.handler = RecordingHandler()
        self.port = free_port()
        self.smtputf8 = True  # as Postfix, Exim and the big providers: élodie@example.com can be delivered
        self._controller_class = Controller
        self.controller = None

    @property
    def messages(self):
        return self.handler.messages

    def start(self):
        self.controller = self._controller_class(self.handler, hostname="127.0.0.1", port=self.port,
                                                 enable_SMTPUTF8=self.smtputf8)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def refuse(self, address):
        self.handler.refused_recipients.add(address.lower())

    def to(self, address):
        """The messages delivered to `address`."""
        return [m for m in self.messages if address.lower() in m["To"].lower()]


def send_mail_to(app, monkeypatch, port):
    """The app's mail server is the one on this loopback port (for the test's length)."""
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", port)
    mail_state = app.extensions["mail"]
    monkeypatch.setattr(mail_state, "server", "127.0.0.1")
    monkeypatch.setattr(mail_state, "port", port)


@pytest.fixture
def smtp_server(app, monkeypatch):
    """A running SMTP server; the app sends to it (MAIL_SERVER/MAIL_PORT point at it)."""
    server = SmtpServer()
    server.start()
    send_mail_to(app, monkeypatch, server.port)
    yield server
    server.stop()


class Clock:
    """The workers' real clock (lms.workers), moved by hand: heartbeats age without waiting."""

    def __init__(self):
        from lms.clock import utcnow

        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta):
        from datetime import timedelta

        self.now += timedelta(**delta)


def worker_at(clock, **identity):
    """A registered worker on `clock`, timed out after 30 s without a heartbeat, that never
    beats unless told to."""
    from datetime import timedelta

    from lms.workers import Worker

    return Worker(timeout=timedelta(seconds=30), clock=clock, **identity).register()


def ended_process_id():
    """The id of a process of this host that has ended (as a killed worker's)."""
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    try:
        os.kill(process.pid, 0)
    except ProcessLookupError:
        return process.pid
    pytest.skip("the id of the process that ended was taken again at once")


def wait_until(condition, timeout=30.0):
    """Whether `condition()` came true within `timeout` seconds, asked every 50 ms: for what
    another thread or process does, not for the clock (time-dependent rules take `now`)."""
    import threading
    import time

    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.05)
    return True


class HangingSmtpServer:
    """A server on loopback that accepts connections and never answers (not even the SMTP
    greeting), as a stuck mail relay does. stop() closes every connection it holds."""

    def __init__(self):
        import socket
        import threading

        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.connections = []
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)
            self.connected.set()

    def stop(self):
        import socket

        for connection in [self.listener, *self.connections]:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()


@pytest.fixture
def hanging_smtp_server(app, monkeypatch):
    """The app's mail server is one that never answers."""
    server = HangingSmtpServer()
    send_mail_to(app, monkeypatch, server.port)
    yield server
    server.stop()
