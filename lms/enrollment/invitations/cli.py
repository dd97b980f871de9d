"""`lms invite`: invite people by email."""
import click

from lms.cli_helpers import EXIT_PARTIAL, emit, fail, json_option, run_service


def register(lms_cli):
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
        from lms.enrollment.groups.services import find_group
        from lms.enrollment.invitations.services import invite_people, parse_email_list
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
        outcome.include_typing(parsed)
        db.session.commit()
        result = outcome.as_dict()
        result["groups"] = outcome.group_names
        result["invitations"] = [{"id": inv.id, "email": inv.user.email} for inv in outcome.invitations]
        emit(as_json, result, lambda: _invite_text(result))
        if outcome.rejected:
            raise SystemExit(EXIT_PARTIAL)


def _invite_text(result):
    lines = [f"Invited: {len(result['invited'])}",
             f"Already had an account{' (added to the groups)' if result['groups'] else ''}: "
             f"{len(result['already_members'])}",
             f"Already invited (still pending): {len(result['already_invited'])}",
             f"Typed twice (counted once): {len(result['repeated'])}",
             f"Rejected: {len(result['rejected'])}"]
    lines += [f"  {item['email']}: {item['reason']}" for item in result["rejected"]]
    return "\n".join(lines)
