"""`lms users ...` commands."""
import json
import sys

import click

from lms.cli_helpers import emit, fail, json_option
from lms.enrollment.rosters import export as user_export


def register(lms_cli):
    @lms_cli.group("users")
    def users():
        """Users."""

    @users.command("export")
    @click.option("--format", "fmt", type=click.Choice(user_export.FORMATS),
                  help="csv (default), xlsx or json; with --json and no --output: json.")
    @click.option("--group", "group_ref", help="Only this group's members (id, public id or name).")
    @click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
                  help="Write to this file instead of standard output.")
    @json_option
    def export_command(fmt, group_ref, output, as_json):
        """Export users as CSV, XLSX or JSON (formula-like cells neutralised in CSV and XLSX).

        With --json the one JSON value on standard output is the list of users, or, when the
        export goes to --output, a summary of what was written.
        """
        from lms.enrollment.groups.services import find_group
        from lms.errors import NotFound

        fmt = fmt or ("json" if as_json else "csv")
        if as_json and not output and fmt != "json":
            fail(as_json, f"--json prints JSON on standard output; give --output FILE for {fmt}.")
        group = None
        if group_ref:
            try:
                group = find_group(group_ref)
            except NotFound as error:
                fail(as_json, error.message)
        users = user_export.export_users(group)
        if fmt == "json":
            body = json.dumps(users, ensure_ascii=False).encode() + b"\n"
        elif fmt == "csv":
            body = user_export.to_csv(users).encode("utf-8")
        else:
            body = user_export.to_xlsx(users)
        if output:
            with open(output, "wb") as handle:
                handle.write(body)
            summary = {"output": output, "format": fmt, "count": len(users)}
            emit(as_json, summary, f"Wrote {len(users)} user(s) to {output} as {fmt}.")
        elif fmt == "xlsx" and sys.stdout.isatty():
            fail(as_json, "XLSX is binary: give --output FILE or redirect standard output.")
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(body)
            sys.stdout.buffer.flush()
