"""`flask db upgrade` on an empty database gives exactly the models' schema, on each backend."""
import os
import secrets

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from lms import create_app
from lms.config import normalize_database_url, config_for_testing
from lms.extensions import db


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
    with app.app_context():
        yield app
        db.engine.dispose()


def schema_differences():
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_on_an_empty_database_gives_the_models_schema(migrated_app):
    upgrade()
    assert schema_differences() == []
    tables = set(sa.inspect(db.engine).get_table_names())
    assert {"users", "groups", "enrollments", "invitations", "outbox_emails"} <= tables


def test_downgrade_to_base_removes_every_table(migrated_app):
    upgrade()
    downgrade(revision="base")
    assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}


def test_a_schema_missing_a_table_is_reported(migrated_app):
    """The comparison above can fail: an empty database differs from the models."""
    assert any(diff[0] == "add_table" for diff in schema_differences())
