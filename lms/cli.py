"""`flask --app wsgi lms ...`: the command line of DESIGN §5.

Every command takes --json and then prints exactly one JSON value on stdout. Exit status:
0 success, 1 the request itself is unusable, 2 done but some items were rejected.
"""
import json
import sys

import click
from flask.cli import AppGroup

from lms.cli_helpers import EXIT_UNUSABLE, emit, json_option, parse_instant
from lms.extensions import db


class LmsGroup(AppGroup):
    """Usage errors exit with 1 (DESIGN §5), and with --json they are printed as JSON."""

    def parse_args(self, ctx, args):
        ctx.meta["lms_wants_json"] = "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            if ctx.meta.get("lms_wants_json"):
                click.echo(json.dumps({"error": error.format_message()}))
                sys.exit(EXIT_UNUSABLE)
            error.exit_code = EXIT_UNUSABLE
            raise


lms_cli = LmsGroup("lms", help="LMS enrollment: groups, users, imports, invitations, due work.")


def _register():
    from lms.accounts.cli import register as register_accounts
    from lms.enrollment.groups.cli import register as register_groups
    from lms.enrollment.invitations.cli import register as register_invitations
    from lms.enrollment.links.cli import register as register_links
    from lms.enrollment.rosters.cli import register as register_rosters
    from lms.programs.cli import register as register_programs
    from lms.scim.cli import register as register_scim

    for register in (register_accounts, register_groups, register_invitations, register_rosters,
                     register_links, register_programs, register_scim):
        register(lms_cli)

    @lms_cli.command("run-due")
    @click.option("--at", "at", help="Run what is due at this ISO date-time (default: now).")
    @json_option
    def run_due_command(at, as_json):
        """Run all work that is due at that time and report what was done."""
        from lms.clock import utcnow
        from lms.due_work import run_due
        from lms.workers import working

        now = parse_instant(at) if at else utcnow()
        with working() as worker:
            counts = run_due(now=now, worker=worker)
        db.session.commit()
        emit(as_json, {"at": now.isoformat(), **counts},
             lambda: "\n".join(f"{key}: {value}" for key, value in counts.items()))

    @lms_cli.command("scheduler")
    def scheduler_command():
        """Run the scheduler in the foreground (the process beside the web workers).

        SIGTERM or Ctrl+C: the emails in flight are finished and recorded, the leases this
        process holds are released, and it exits within STOP_SECONDS."""
        from flask import current_app

        from lms.scheduler import stop_on_signal

        stop_on_signal(current_app._get_current_object())

    @lms_cli.command("demo")
    @click.option("--if-empty", is_flag=True, help="Only when the database has no users yet.")
    @json_option
    def demo_command(if_empty, as_json):
        """Load demonstration data (idempotent)."""
        from lms.clock import utcnow
        from lms.demo import load_demo

        result = load_demo(now=utcnow(), only_if_empty=if_empty)
        db.session.commit()
        emit(as_json, result, lambda: _demo_text(result))


def _demo_text(result):
    if result.get("skipped"):
        return "The database already has users; demo data not loaded."
    from flask import current_app

    lines = [f"Demo data loaded. Sign in at {current_app.config['BASE_URL']} with:"]
    lines += [f"  {login['role']:<8} {login['email']:<28} {login['password']}" for login in result["logins"]]
    return "\n".join(lines)


_register()
