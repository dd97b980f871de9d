"""`lms import`: import an account roster (DESIGN §4)."""
import click

from lms.cli_helpers import EXIT_PARTIAL, emit, fail, json_option


def register(lms_cli):
    @lms_cli.command("import")
    @click.argument("file", type=click.File("rb"))
    @click.option("--format", "kind", type=click.Choice(["auto", "paste", "csv", "xlsx"]), default="auto",
                  show_default=True, help="auto goes by the file's content.")
    @click.option("--mode", type=click.Choice(["create", "update", "fill"]), default="create", show_default=True,
                  help="What to do with existing users: skip them, override with the file's values, "
                       "or only set their empty fields.")
    @click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
    @click.option("--strict", is_flag=True, help="Write nothing if any row is invalid.")
    @json_option
    def import_command(file, kind, mode, dry_run, strict, as_json):
        """Import a roster (DESIGN §4); FILE may be - for standard input."""
        from flask import current_app

        from lms.clock import utcnow
        from lms.enrollment.rosters.importer import run_import
        from lms.enrollment.rosters.parser import RosterUnreadable, load_roster
        from lms.extensions import db

        try:
            roster = load_roster(file.read(), filename=getattr(file, "name", ""), kind=kind,
                                 languages=current_app.config["LMS_LANGUAGES"])
        except RosterUnreadable as error:
            fail(as_json, str(error))
        report = run_import(roster, actor=None, now=utcnow(), mode=mode, strict=strict, dry_run=dry_run)
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
        result = report.as_dict()
        emit(as_json, result, lambda: _import_text(result, strict=strict))
        if report.errors:
            raise SystemExit(EXIT_PARTIAL)


def _import_text(result, *, strict):
    written = "Dry run: nothing written." if result["dry_run"] else (
        "Strict: nothing written because some rows are invalid." if strict and result["errors"] else "")
    lines = [f"Rows: {result['total_rows']}", f"Created: {result['created']}", f"Updated: {result['updated']}",
             f"Unchanged: {result['unchanged']}", f"Skipped (existing): {result['skipped']}",
             f"Errors: {len(result['errors'])}"]
    lines += [f"  line {error['line']}" + (f" [{error['column']}]" if error["column"] else "") + f": {error['message']}"
              for error in result["errors"]]
    return "\n".join(([written] if written else []) + lines)
