"""Small helpers for set-based writes that behave the same on SQLite and PostgreSQL."""
from sqlalchemy.dialects import postgresql, sqlite

from lms.extensions import db


def insert_ignoring_conflicts(model, rows):
    """INSERT many rows, silently skipping those that collide with a unique key.

    Two admins adding the same member at once (or a double click) must not turn into an
    IntegrityError: ON CONFLICT DO NOTHING is atomic on both databases.
    """
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(model).on_conflict_do_nothing(), rows)


def chunked(items, size=1000):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]
