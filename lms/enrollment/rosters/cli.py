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
    @click.option("--map", "mappings", multiple=True, metavar="COLUMN=FIELD",
                  help="Read COLUMN (a header name, or a number from 1) as FIELD (email, first_name, groups..., "
                       "or ignore). Repeatable.")
    @click.option("--sheet", help="The XLSX sheet to read (default: the first that holds a roster).")
    @click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
    @click.option("--strict", is_flag=True, help="Write nothing if any row is invalid.")
    @click.option("--generate-passwords", is_flag=True,
                  help="Give every new account whose row has no password a generated temporary password by email "
                       "(instead of an invitation); a row with send_email 0 is still invited without one. "
                       "A password cell *generate* does so for its row.")
    @json_option
    def import_command(file, kind, mode, mappings, sheet, dry_run, strict, generate_passwords, as_json):
        """Import a roster (DESIGN §4); FILE may be - for standard input. The import is listed
        under Past imports, as the page's are."""
        from flask import current_app

        from lms.clock import utcnow
        from lms.enrollment.rosters.importer import defaults_for
        from lms.enrollment.rosters.jobs import dry_run_import, import_roster
        from lms.enrollment.rosters.parser import RosterUnreadable
        from lms.extensions import db

        data, filename = file.read(), _filename(file)
        mapping = _mapping(mappings, as_json)
        defaults = defaults_for(generate_passwords=generate_passwords)
        try:
            if dry_run:  # a dry run writes nothing, not even the job
                report = dry_run_import(data, filename=filename, kind=kind, mode=mode, strict=strict, now=utcnow(),
                                        mapping=mapping, sheet=sheet, defaults=defaults)
                db.session.rollback()
            else:
                job, report = import_roster(data, filename=filename, kind=kind, mode=mode, strict=strict,
                                            actor=None, now=utcnow(), mapping=mapping, sheet=sheet, defaults=defaults)
        except RosterUnreadable as error:
            fail(as_json, str(error))
        if not dry_run and report is None:  # the job failed; it says why (and is under Past imports)
            fail(as_json, job.failure_message if job is not None else "Another worker took this import over.")
        result = report.as_dict()
        where = None if dry_run else f"{current_app.config['BASE_URL']}/admin/imports/{job.id}"
        emit(as_json, result, lambda: _import_text(result, strict=strict, where=where))
        if report.errors:
            raise SystemExit(EXIT_PARTIAL)


def _mapping(mappings, as_json):
    """--map COLUMN=FIELD options as {column: field}; the column may itself hold '=' (the last one splits)."""
    mapping = {}
    for given in mappings:
        column, equals, wanted = given.rpartition("=")
        if not equals or not column.strip() or not wanted.strip():
            fail(as_json, f"--map {given!r}: write it COLUMN=FIELD, for example --map \"Email Address=email\".")
        mapping[column.strip()] = wanted.strip()
    return mapping or None


def _filename(file):
    """The name a job keeps: the path as given; none for standard input."""
    name = getattr(file, "name", None)
    return None if not isinstance(name, str) or name in ("-", "<stdin>") else name[-255:]


def _import_text(result, *, strict, where=None):
    written = "Dry run: nothing written." if result["dry_run"] else (
        "Strict: nothing written because some rows are invalid." if strict and result["errors"] else "")
    lines = ([f"Sheet: {result['sheet']}"] if result.get("sheet") else []) + [
             f"Rows: {result['total_rows']}", f"Created: {result['created']}", f"Updated: {result['updated']}",
             f"Unchanged: {result['unchanged']}", f"Skipped (existing): {result['skipped']}",
             f"Errors: {len(result['errors'])}"]
    lines += [f"  line {error['line']}" + (f" [{error['column']}]" if error["column"] else "") + f": {error['message']}"
              for error in result["errors"]]
    lines += [f"Note: {warning}" for warning in result.get("warnings", [])]
    if where:
        lines.append(f"Report, under Past imports: {where}")
    return "\n".join(([written] if written else []) + lines)
