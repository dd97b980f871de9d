"""`flask db upgrade` on an empty database gives exactly the models' schema, on each backend."""
import os
import re
import secrets
import warnings

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from lms import create_app
from lms.config import normalize_database_url, config_for_testing
from lms.extensions import db, init_migrations


@pytest.fixture
def empty_database_url(backend, tmp_path):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        return
    server_url = sa.engine.make_url(normalize_database_url(os.environ["TEST_DATABASE_URL"]))
    name = f"lms_migrations_{secrets.token_hex(4)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield server_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def migrated_app(empty_database_url, tmp_path):
    app = create_app(config_for_testing(str(tmp_path), empty_database_url))
    init_migrations(app)
    with app.app_context():
        yield app
        db.engine.dispose()


# SQLAlchemy cannot reflect SQLite's indexes on expressions (lower(last_name)), so Alembic skips
# them with these warnings; expression_index_differences() compares them instead.
SKIPPED_EXPRESSION_INDEX = ("autogenerate skipping metadata-specified expression-based index",
                            "Skipped unsupported reflection of expression-based index")


def schema_differences():
    with db.engine.connect() as connection, warnings.catch_warnings():
        if connection.dialect.name == "sqlite":
            for message in SKIPPED_EXPRESSION_INDEX:
                warnings.filterwarnings("ignore", message=message)
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata) + expression_index_differences(connection)


def _normalised(sql):
    return re.sub(r'[\s"]', "", sql).lower()


def expression_index_differences(connection):
    """SQLite: each expression index the models declare exists with the same definition."""
    if connection.dialect.name != "sqlite":
        return []
    declared = {index.name: _normalised(str(sa.schema.CreateIndex(index).compile(dialect=connection.dialect)))
                for table in db.metadata.tables.values() for index in table.indexes
                if any(not isinstance(expression, sa.Column) for expression in index.expressions)}
    found = {name: _normalised(sql) for name, sql in connection.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))}
    return [("expression_index", name, definition, found.get(name))
            for name, definition in declared.items() if found.get(name) != definition]


def test_upgrade_on_an_empty_database_gives_the_models_schema(migrated_app):
    upgrade()
    assert schema_differences() == []
    tables = set(sa.inspect(db.engine).get_table_names())
    assert {"users", "groups", "enrollments", "invitations", "outbox_emails"} <= tables


def test_downgrade_to_base_removes_every_table(migrated_app):
    upgrade()
    downgrade(revision="base")
    assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}


def test_a_missing_expression_index_is_reported(migrated_app):
    upgrade()
    with db.engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ix_users_name_order"))
    assert any("ix_users_name_order" in repr(diff) for diff in schema_differences())


def test_a_schema_missing_a_table_is_reported(migrated_app):
    """The comparison above can fail: an empty database differs from the models."""
    assert any(diff[0] == "add_table" for diff in schema_differences())
