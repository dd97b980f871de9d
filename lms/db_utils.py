"""Small helpers for set-based writes that behave the same on SQLite and PostgreSQL."""
import hashlib
import json
import re

from sqlalchemy import ARRAY, JSON, any_, bindparam, text
from sqlalchemy import insert as core_insert
from sqlalchemy.dialects import sqlite

from lms.extensions import db

MAX_ID = 2**31 - 1  # beyond PostgreSQL's integer: a typed URL, not a row
_ID = re.compile(r"[0-9]{1,10}")


def as_id(value) -> int | None:
    """A row id as a form or URL gives it: ASCII digits within PostgreSQL's integer, else None
    (str.isdigit() takes "²", which int() refuses)."""
    text = str(value if value is not None else "").strip()
    if not _ID.fullmatch(text):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def as_ids(values) -> list[int]:
    """The values that are row ids (as_id), as ints; the others left out."""
    return [number for value in values if (number := as_id(value)) is not None]


def get_by_id(model, value):
    """The row whose id `value` gives (as a form or URL gives it), or None."""
    ident = as_id(value)
    return db.session.get(model, ident) if ident is not None else None


def insert_rows(model, rows, *, ignore_conflicts=False):
    """INSERT many rows in as few round trips as each driver allows (R11).

    SQLite: asking for RETURNING makes SQLAlchemy's "insertmanyvalues" send one multi-row
    INSERT per page of rows (measured 30 % faster than executemany). PostgreSQL: COPY, the
    bulk path the server is built for (docs/performance.md compares it with executemany,
    multi-row VALUES and unnest()). With ignore_conflicts, rows that collide with a unique
    key are skipped atomically (ON CONFLICT DO NOTHING): two admins adding the same member at
    once, or a double click, is not an IntegrityError.
    """
    rows = list(rows)
    if not rows:
        return
    table = model.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        _insert_by_copy(table, rows, ignore_conflicts)
        return
    statement = sqlite.insert(table).on_conflict_do_nothing() if ignore_conflicts else core_insert(table)
    db.session.execute(statement.returning(*table.primary_key.columns), rows)


def _insert_by_copy(table, rows, ignore_conflicts):
    """PostgreSQL: COPY the rows in, through a temporary staging table when conflicts are to be
    skipped (COPY itself has no ON CONFLICT). Values go through each column's own bind
    processor first, as they would in an INSERT."""
    dialect = db.session.get_bind().dialect
    names = list(rows[0])
    converters = [_converter(table.c[name].type, dialect) for name in names]
    columns = ", ".join(f'"{name}"' for name in names)
    target = f'"{table.name}"'
    if ignore_conflicts:
        target = _staging_table(table, names, dialect)
    cursor = db.session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([convert(row[name]) for name, convert in zip(names, converters, strict=True)])
    if ignore_conflicts:
        cursor.execute(f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM {target} '
                       f"ON CONFLICT DO NOTHING")
        cursor.execute(f"DELETE FROM {target}")


def _converter(column_type, dialect):
    if isinstance(column_type, JSON):
        return lambda value: None if value is None else json.dumps(value)
    process = column_type.bind_processor(dialect)
    return process or (lambda value: value)


def _staging_table(table, names, dialect):
    """A temporary table with just these columns, made once per connection and emptied after
    each use (and at commit). Its name carries the column types, so a schema change never
    meets an old staging table on a pooled connection."""
    definitions = ", ".join(f'"{name}" {table.c[name].type.compile(dialect=dialect)}' for name in names)
    digest = hashlib.sha1(definitions.encode()).hexdigest()[:12]
    name = f'"stage_{table.name}_{digest}"'
    db.session.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({definitions}) ON COMMIT DELETE ROWS"))
    return name


def insert_ignoring_conflicts(model, rows):
    insert_rows(model, rows, ignore_conflicts=True)


def among(column, values):
    """`column IN values`. On PostgreSQL the list travels as one array parameter (= ANY), so
    the statement's text, and the time spent compiling and parsing it, does not grow with the
    list."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def chunked(items, size=1000):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]
