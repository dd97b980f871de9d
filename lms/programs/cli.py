"""`lms programs ...` and `lms sessions ...` commands (DESIGN §5)."""
import click

from lms.cli_helpers import EXIT_PARTIAL, emit, fail, json_option, parse_instant, run_service


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
    @click.argument("emails", nargs=-1, required=True, metavar="EMAIL...")
    @click.option("--no-email", is_flag=True, help="Register them without sending the invitation emails.")
    @json_option
    def add_learner_command(session_ref, emails, no_email, as_json):
        """Register people for SESSION by email, as the session page's Add emails does: accounts
        directly, addresses new to the platform invited to it first (R1, R4)."""
        from lms.clock import utcnow
        from lms.extensions import db
        from lms.programs.registration import add_emails_to_session

        session = _load(as_json, session_ref)
        outcome = run_service(as_json, lambda: add_emails_to_session(
            session, "\n".join(emails), actor=None, now=utcnow(), send_email=not no_email))
        db.session.commit()
        result = outcome.as_dict(session)
        emit(as_json, result, lambda: _added_text(outcome))
        if outcome.rejected:
            raise SystemExit(EXIT_PARTIAL)

    @sessions.command("roster")
    @click.argument("session_ref", metavar="SESSION")
    @json_option
    def roster_command(session_ref, as_json):
        """The session's registration: email, status, sources, and what became of each
        invitation email (as the session page says it, from the outbox)."""
        from lms.clock import utcnow
        from lms.notifications.models import OutboxEmail
        from lms.notifications.status import latest_email_states
        from lms.programs.services import session_roster

        session = _load(as_json, session_ref)
        registration = session_roster(session)
        states = latest_email_states(OutboxEmail.enrollment_id, [row["enrollment"].id for row in registration],
                                     kinds=["session_invitation"], now=utcnow())
        rows = []
        for row in registration:
            enrollment, state = row["enrollment"], states.get(row["enrollment"].id)
            rows.append({
                "email": row["email"], "status": enrollment.status.value, "sources": row["sources"],
                "email_due_at": _iso(enrollment.email_due_at), "email_sent_at": _iso(enrollment.email_sent_at),
                # sent, due, sending, held, retrying, failed, cancelled; not_emailed: added with email off
                "email_state": state.word if state else "not_emailed" if enrollment.email_due_at is None else None,
                "email_note": state.reason if state else "",
            })
        emit(as_json, rows, lambda: "\n".join(
            f"{row['email']}\t{row['status']}\t{', '.join(row['sources'])}\t{_email_text(row)}"
            for row in rows) or "Nobody registered yet.")

    @sessions.command("send-now")
    @click.argument("session_ref", metavar="SESSION")
    @click.argument("emails", nargs=-1, metavar="[EMAIL...]")
    @json_option
    def send_now_command(session_ref, emails, as_json):
        """Send now the invitation emails still waiting (for the start, a mail server, or because
        they were added with email off): these learners', or every waiting one's."""
        from sqlalchemy import select

        from lms.accounts.models import User
        from lms.clock import utcnow
        from lms.extensions import db
        from lms.programs.cascade import send_invitation_emails_now
        from lms.programs.models import Enrollment

        session = _load(as_json, session_ref)
        query = select(Enrollment.id).join(User, User.id == Enrollment.user_id).where(Enrollment.session_id == session.id)
        if emails:
            query = query.where(User.email.in_([email.strip().lower() for email in emails]))
        count = run_service(as_json, lambda: send_invitation_emails_now(
            session, db.session.scalars(query).all(), actor=None, now=utcnow()))
        db.session.commit()
        emit(as_json, {"session_id": session.id, "sent_now": count},
             f"{count} invitation email{'s' if count != 1 else ''} will go out now." if count
             else "No invitation email was waiting.")


def _email_text(row):
    state, note = row["email_state"], row["email_note"]
    if state == "sent":
        return f"sent {row['email_sent_at'] or ''}".strip()
    if state == "due":
        return f"due {row['email_due_at']}"
    if state == "not_emailed":
        return "not emailed (added with email off)"
    return f"{state}: {note}" if state and note else state or "-"


def _iso(value):
    return value.isoformat() if value else None


def _added_text(outcome):
    lines = [item.describe() for item in outcome.registered]
    lines += [f"{email}: typed twice, counted once" for email in outcome.repeated]
    lines += [f"{raw}: left out ({reason})" for raw, reason in outcome.rejected]
    return "\n".join(lines + [outcome.totals()])
