"""Small helpers for set-based writes that behave the same on SQLite and PostgreSQL."""
import hashlib
import json
import re
from operator import itemgetter

from sqlalchemy import ARRAY, JSON, any_, bindparam

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

    SQLite: one statement, compiled once per table and set of columns, run as the driver's
    executemany on the session's connection: the values go through each column's own bind
    processor (enums, JSON, UTC datetimes, booleans) as an ORM insert would send them, but
    without SQLAlchemy compiling and processing parameters row by row (for 10,000 rows that
    was most of an import's time, issue 19). PostgreSQL: COPY, the bulk path the server is
    built for (docs/performance.md compares it with executemany, multi-row VALUES and
    unnest()). Columns a row leaves out get their Python-side default, as in an ORM insert.
    With ignore_conflicts, rows that collide with a unique key are skipped atomically (ON
    CONFLICT DO NOTHING): two admins adding the same member at once, or a double click, is not
    an IntegrityError.
    """
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return
    table = model.__table__
    connection = db.session.connection()
    dialect = connection.dialect
    for names, same in _by_columns(rows):
        plan = _plan(table, names, dialect, ignore_conflicts)
        if dialect.name == "postgresql":
            _insert_by_copy(connection, plan, same)
        else:  # SQLite's driver: qmark parameters
            values = plan.values_of()
            connection.exec_driver_sql(plan.sql, [values(row) for row in same])


def _by_columns(rows):
    """[(column names, rows)]: the rows grouped by the columns they give (usually one group)."""
    first = tuple(rows[0])
    if all(tuple(row) == first for row in rows):
        return [(first, rows)]
    groups = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.items())


class _InsertPlan:
    """How rows giving `names` are written into `table`: the column list (with the columns
    left to their Python defaults), each column's converter, and the SQL."""

    def __init__(self, table, names, dialect, ignore_conflicts):
        self.table, self.names, self.ignore_conflicts = table, names, ignore_conflicts
        defaults = [column for column in table.columns if column.key not in names and column.default is not None
                    and (column.default.is_scalar or column.default.is_callable)]
        self.columns = [table.c[name] for name in names] + defaults
        self.defaults = [(column.default.arg if column.default.is_scalar else None,
                          column.default.arg if column.default.is_callable else None) for column in defaults]
        self.converters = [_converter(column.type, dialect) for column in self.columns]
        preparer = dialect.identifier_preparer
        self.quoted_columns = ", ".join(preparer.quote(column.name) for column in self.columns)
        self.quoted_table = preparer.format_table(table)
        marks = ", ".join(["?"] * len(self.columns))
        self.sql = (f"INSERT INTO {self.quoted_table} ({self.quoted_columns}) VALUES ({marks})"
                    + (" ON CONFLICT DO NOTHING" if ignore_conflicts else ""))

    def values_of(self):
        """row -> the tuple of its values as the driver takes them. Each converter remembers
        its last value: the rows of a batch share most of theirs (the import's `now`, a
        status), and a UTC datetime costs more to convert than to compare by identity. Made
        for one insert, so a value never outlives the rows it came with."""
        names = self.names
        get = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
        defaults = self.defaults
        converting = [(index, _remembering(convert)) for index, convert in enumerate(self.converters)
                      if convert is not None]

        def values(row):
            values = get(row)
            if defaults:
                values += tuple(make(None) if make is not None else scalar for scalar, make in defaults)
            if not converting:
                return values
            values = list(values)
            for index, convert in converting:
                values[index] = convert(values[index])
            return tuple(values)

        return values


_UNSET = object()


def _remembering(convert):
    last_in, last_out = _UNSET, None

    def remembered(value):
        nonlocal last_in, last_out
        if value is not last_in:
            last_in, last_out = value, convert(value)
        return last_out

    return remembered


_PLANS = {}


def _plan(table, names, dialect, ignore_conflicts):
    key = (dialect, table, names, ignore_conflicts)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _InsertPlan(table, names, dialect, ignore_conflicts)
    return plan


def _insert_by_copy(connection, plan, rows):
    """PostgreSQL: COPY the rows in. When conflicts are to be skipped (COPY itself has no ON
    CONFLICT), the rows are first copied straight in, within a savepoint: a bulk import's rows
    are new, and a straight COPY costs about a third of going through a staging table. If a row
    collides with a unique key after all (or with another row of the same call), the savepoint
    is rolled back and the rows go through a temporary staging table and INSERT ... ON CONFLICT
    DO NOTHING. Values go through each column's own bind processor first, as they would in an
    INSERT."""
    cursor = connection.connection.driver_connection.cursor()
    if not plan.ignore_conflicts:
        _copy(cursor, plan.quoted_table, plan, rows)
        return
    from psycopg.errors import ExclusionViolation, UniqueViolation

    cursor.execute("SAVEPOINT lms_bulk_insert")
    try:
        _copy(cursor, plan.quoted_table, plan, rows)
    except (UniqueViolation, ExclusionViolation):
        cursor.execute("ROLLBACK TO SAVEPOINT lms_bulk_insert")
    else:
        cursor.execute("RELEASE SAVEPOINT lms_bulk_insert")
        return
    cursor.execute("RELEASE SAVEPOINT lms_bulk_insert")
    staging = _staging_table(connection, plan)
    _copy(cursor, staging, plan, rows)
    cursor.execute(f"INSERT INTO {plan.quoted_table} ({plan.quoted_columns}) SELECT {plan.quoted_columns} "
                   f"FROM {staging} ON CONFLICT DO NOTHING")
    cursor.execute(f"DELETE FROM {staging}")


def _copy(cursor, target, plan, rows):
    values = plan.values_of()
    with cursor.copy(f"COPY {target} ({plan.quoted_columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(values(row))


def _converter(column_type, dialect):
    """What a value goes through before the driver takes it (None: nothing): the column's bind
    processor for this dialect, as a compiled INSERT would apply it. COPY takes JSON as its
    text, and None as NULL."""
    if dialect.name == "postgresql":
        if isinstance(column_type, JSON):
            return lambda value: None if value is None else json.dumps(value)
        return column_type.bind_processor(dialect)
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _staging_table(connection, plan):
    """A temporary table with just these columns, made once per connection and emptied after
    each use (and at commit). Its name carries the column types, so a schema change never
    meets an old staging table on a pooled connection."""
    dialect = connection.dialect
    definitions = ", ".join(f'"{column.name}" {column.type.compile(dialect=dialect)}' for column in plan.columns)
    digest = hashlib.sha1(definitions.encode()).hexdigest()[:12]
    name = f'"stage_{plan.table.name}_{digest}"'
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({definitions}) ON COMMIT DELETE ROWS")
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
