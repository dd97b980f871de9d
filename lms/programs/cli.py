"""`lms programs ...` and `lms sessions ...` commands (DESIGN §5)."""
import click

from lms.cli_helpers import emit, fail, json_option, parse_instant, run_service


def register(lms_cli):
    @lms_cli.group("programs")
    def programs():
        """Training programs."""

    @programs.command("create")
    @click.argument("title")
    @click.option("--description", default="")
    @json_option
    def create_program_command(title, description, as_json):
        """Create a program; prints its id."""
        from lms.clock import utcnow
        from lms.extensions import db
        from lms.programs.services import create_program

        program = run_service(as_json, lambda: create_program(title, owner=None, now=utcnow(),
                                                              description=description))
        db.session.commit()
        emit(as_json, {"id": program.id, "title": program.title}, f"{program.id}\t{program.title}")

    @lms_cli.group("sessions")
    def sessions():
        """Program sessions and their registration."""

    @sessions.command("create")
    @click.argument("program_ref", metavar="PROGRAM")
    @click.option("--name", required=True)
    @click.option("--starts-at", required=True, help="ISO date-time; naive values are UTC.")
    @click.option("--ends-at", help="ISO date-time; naive values are UTC.")
    @json_option
    def create_session_command(program_ref, name, starts_at, ends_at, as_json):
        """Create a session of PROGRAM (id or exact title); prints its id."""
        from lms.clock import utcnow
        from lms.errors import NotFound
        from lms.extensions import db
        from lms.programs.services import create_session, find_program

        try:
            program = find_program(program_ref)
        except NotFound as error:
            fail(as_json, error.message)
        session = run_service(as_json, lambda: create_session(
            program, name=name, starts_at=parse_instant(starts_at),
            ends_at=parse_instant(ends_at) if ends_at else None, actor=None, now=utcnow()))
        db.session.commit()
        emit(as_json, {"id": session.id, "program_id": program.id, "name": session.name,
                       "starts_at": session.starts_at.isoformat(),
                       "ends_at": session.ends_at.isoformat() if session.ends_at else None},
             f"{session.id}\t{session.name}")

    def _load(as_json, session_ref):
        from lms.errors import NotFound
        from lms.programs.services import find_session

        try:
            return find_session(session_ref)
        except NotFound as error:
            fail(as_json, error.message)

    @sessions.command("add-group")
    @click.argument("session_ref", metavar="SESSION")
    @click.argument("group_ref", metavar="GROUP")
    @json_option
    def add_group_command(session_ref, group_ref, as_json):
        """Assign GROUP (id, public id or name) to SESSION: its members are invited (R3)."""
        from lms.clock import utcnow
        from lms.enrollment.groups.services import find_group
        from lms.errors import NotFound
        from lms.extensions import db
        from lms.programs.cascade import assign_group

        session = _load(as_json, session_ref)
        try:
            group = find_group(group_ref)
        except NotFound as error:
            fail(as_json, error.message)
        invited = run_service(as_json, lambda: assign_group(session, group, actor=None, now=utcnow()))
        db.session.commit()
        emit(as_json, {"session_id": session.id, "group_id": group.id, "invited": invited},
             f"{invited} invited from {group.name}")

    @sessions.command("add-learner")
    @click.argument("session_ref", metavar="SESSION")
    @click.argument("email")
    @json_option
    def add_learner_command(session_ref, email, as_json):
        """Add an existing user to SESSION directly."""
        from lms.accounts.services import find_user_by_email
        from lms.clock import utcnow
        from lms.extensions import db
        from lms.programs.cascade import add_learner

        session = _load(as_json, session_ref)
        user = find_user_by_email(email)
        if user is None:
            fail(as_json, f"No user with the email {email.strip().lower()}; invite them first (lms invite).")
        invited = run_service(as_json, lambda: add_learner(session, user, actor=None, now=utcnow()))
        db.session.commit()
        emit(as_json, {"session_id": session.id, "email": user.email, "invited": invited},
             f"{user.email}: {'invited' if invited else 'already registered'}")

    @sessions.command("roster")
    @click.argument("session_ref", metavar="SESSION")
    @json_option
    def roster_command(session_ref, as_json):
        """The session's registration: email, status, sources, email due and sent times."""
        from lms.programs.services import session_roster

        session = _load(as_json, session_ref)
        rows = [
            {"email": row["email"], "status": row["enrollment"].status.value, "sources": row["sources"],
             "email_due_at": _iso(row["enrollment"].email_due_at),
             "email_sent_at": _iso(row["enrollment"].email_sent_at)}
            for row in session_roster(session)
        ]
        emit(as_json, rows, lambda: "\n".join(
            f"{row['email']}\t{row['status']}\t{', '.join(row['sources'])}\tdue {row['email_due_at']}"
            f"\tsent {row['email_sent_at'] or '-'}" for row in rows) or "Nobody registered yet.")


def _iso(value):
    return value.isoformat() if value else None
