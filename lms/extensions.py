"""Flask extensions, created unbound and initialised in create_app()."""
import sqlite3
from pathlib import Path

from flask_babel import Babel
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent.parent / "migrations"

# Named constraints let Alembic alter and drop them, on SQLite (batch mode) as on PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def _unicode_lower(value):
    return value.lower() if isinstance(value, str) else value


SQLITE_BUSY_TIMEOUT_MS = 30_000


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record):
    """SQLite enforces foreign keys (ON DELETE CASCADE) only when asked, per connection; WAL lets
    the scheduler thread write while pages read, and the busy timeout waits out other writers
    (SQLite's waiting is not first-come first-served: in a burst of 2,000 joins on one link,
    bench/join_link.py, a writer waited more than 5 s). With WAL, synchronous = NORMAL (as
    Rails and Django recommend) keeps every commit through a crash or kill -9 of the process;
    only a power cut or OS crash can lose the last commits, never corrupt the file. A commit
    then costs about 0.05 ms, not 0.35 ms: the outbox commits once per email sent (R10).
    SQLite's lower() folds ASCII only; Python's makes search ignore case for "Émile" as
    PostgreSQL's does."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()
login_manager = LoginManager()
mail = Mail()
htmx = HTMX()
csrf = CSRFProtect()
babel = Babel()
# Per client address; the storage (RATELIMIT_STORAGE_URI) is in memory per process unless set.
limiter = Limiter(get_remote_address)


def init_migrations(app):
    """Flask-Migrate on `app`, once. Its import loads Alembic (0.3 s), which only `flask db` and
    the migration tests need, so it is not done at every start (lms.create_app)."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(app, db, directory=str(MIGRATIONS_DIRECTORY), render_as_batch=True)
