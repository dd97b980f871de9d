"""`lms groups ...` and `lms invite` commands."""
import click


def register(lms_cli):
    from lms.cli import EXIT_PARTIAL, emit, fail, json_option, run_service

    @lms_cli.group("groups")
    def groups():
        """Groups."""

    @groups.command("create")
    @click.argument("name")
    @json_option
    def create_command(name, as_json):
        """Create a group; prints its public id (to paste into rosters)."""
        from lms.clock import utcnow
        from lms.enrollment.groups import create_group
        from lms.extensions import db

        group = run_service(as_json, lambda: create_group(name, actor=None, now=utcnow()))
        db.session.commit()
        emit(as_json, {"id": group.id, "public_id": group.public_id, "name": group.name},
             f"{group.public_id}\t{group.name}")

    @groups.command("list")
    @json_option
    def list_command(as_json):
        """List groups with their public ids and member counts."""
        from lms.enrollment.groups import groups_with_counts

        rows = [
            {"id": group.id, "public_id": group.public_id, "name": group.name,
             "member_count": members, "session_count": sessions}
            for group, members, sessions in groups_with_counts()
        ]
        emit(as_json, rows, lambda: "\n".join(
            f"{row['public_id']}\t{row['member_count']:>6} members\t{row['name']}" for row in rows
        ) or "No groups yet.")

    @lms_cli.command("invite")
    @click.argument("emails", nargs=-1, required=True)
    @click.option("--group", "group_refs", multiple=True, help="Group id, public id or name (repeatable).")
    @click.option("--role", type=click.Choice(["admin", "manager", "learner", "trainee"]), default="learner",
                  show_default=True)
    @click.option("--deactivate-on", type=click.DateTime(formats=["%Y-%m-%d"]), help="YYYY-MM-DD")
    @click.option("--message", default="", help="A personal message in the email.")
    @click.option("--language", help="Language of the email and pages (default: the platform's).")
    @click.option("--no-email", is_flag=True, help="Create the invitations without sending emails.")
    @json_option
    def invite_command(emails, group_refs, role, deactivate_on, message, language, no_email, as_json):
        """Invite people by email (R1: existing accounts are added to the groups)."""
        from lms.clock import utcnow
        from lms.enrollment.groups import find_group
        from lms.enrollment.invitations import invite_people, parse_email_list
        from lms.errors import NotFound
        from lms.extensions import db

        try:
            group_ids = [find_group(ref).id for ref in group_refs]
        except NotFound as error:
            fail(as_json, error.message)
        parsed = run_service(as_json, lambda: parse_email_list("\n".join(emails)))
        outcome = run_service(as_json, lambda: invite_people(
            parsed.emails, actor=None, now=utcnow(), role="learner" if role == "trainee" else role,
            group_ids=group_ids, deactivate_on=deactivate_on.date() if deactivate_on else None,
            message=message, language=language, send_email=not no_email,
        ))
        outcome.rejected[:0] = parsed.rejected
        db.session.commit()
        result = outcome.as_dict()
        result["invitations"] = [{"id": inv.id, "email": inv.user.email} for inv in outcome.invitations]
        emit(as_json, result, lambda: _invite_text(result))
        if outcome.rejected:
            raise SystemExit(EXIT_PARTIAL)


def _invite_text(result):
    lines = [f"Invited: {len(result['invited'])}",
             f"Already members (added to the groups): {len(result['already_members'])}",
             f"Already invited (still pending): {len(result['already_invited'])}",
             f"Rejected: {len(result['rejected'])}"]
    lines += [f"  {item['email']}: {item['reason']}" for item in result["rejected"]]
    return "\n".join(lines)


def register_import(lms_cli):
    from lms.cli import EXIT_PARTIAL, emit, fail, json_option

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
        from lms.enrollment.roster import RosterUnreadable, load_roster
        from lms.enrollment.roster_import import run_import
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
