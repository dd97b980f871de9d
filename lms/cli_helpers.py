"""What every `lms ...` command shares (DESIGN §5): --json, one JSON value on stdout, exit codes."""
import json
import sys
from datetime import datetime, timezone

import click

from lms.errors import DomainError
from lms.extensions import db

EXIT_UNUSABLE = 1
EXIT_PARTIAL = 2


def json_option(command):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON value.")(command)


def emit(as_json, data, text=None):
    """Print `data` as JSON, or `text` (a string or a callable returning one) for people."""
    if as_json:
        click.echo(json.dumps(data, default=str))
    else:
        click.echo(text() if callable(text) else (text if text is not None else data))


def fail(as_json, message, code=EXIT_UNUSABLE):
    db.session.rollback()
    if as_json:
        click.echo(json.dumps({"error": message}))
    else:
        click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def parse_instant(value):
    """An ISO date-time for --at; naive values are taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date-time (e.g. 2026-05-01T09:00)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def run_service(as_json, action):
    """Call a service; a DomainError becomes a clean exit 1 with its message."""
    try:
        return action()
    except DomainError as error:
        fail(as_json, error.message)
