"""The session invitation email (R4: due at the session's start)."""
from flask_babel import gettext
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from lms.extensions import db
from lms.i18n import format_instant
from lms.notifications.render import email_kind
from lms.programs.models import Enrollment, ProgramSession
from lms.programs.services import SESSION_END_FORMAT, SESSION_START_FORMAT
from lms.tokens import token_from_nonce


def preload_enrollments(emails, now):
    """The enrollments a batch of emails names, with session, program and learner, in a few queries."""
    ids = {email.enrollment_id for email in emails if email.enrollment_id}
    if not ids:
        return []
    return db.session.scalars(
        select(Enrollment).where(Enrollment.id.in_(ids))
        .options(selectinload(Enrollment.session).selectinload(ProgramSession.program),
                 selectinload(Enrollment.user))
        .execution_options(populate_existing=True)
    ).all()


ENROLLMENTS = Enrollment.__table__


def record_emails_sent(emails, now, connection):
    """The session roster shows when each learner's invitation went out."""
    connection.execute(
        update(ENROLLMENTS)
        .where(ENROLLMENTS.c.id.in_(sorted({email.enrollment_id for email in emails if email.enrollment_id})))
        .values(email_sent_at=now)
    )


@email_kind("session_invitation", preload=preload_enrollments, on_sent=record_emails_sent)
def session_invitation_email(email, links):
    enrollment = db.session.get(Enrollment, email.context["enrollment_id"])
    session = enrollment.session
    token = token_from_nonce(enrollment.token_nonce)
    return {
        "program_title": session.program.title,
        "program_description": session.program.description,
        "session_name": session.name,
        "starts": format_instant(session.starts_at, SESSION_START_FORMAT),
        "ends": format_instant(session.ends_at, SESSION_END_FORMAT) if session.ends_at else None,
        "trainer_names": [trainer.display_name for trainer in session.trainers],
        "link": links("programs.session_invitation", token=token),
        "subject": gettext("Invitation: %(program)s, %(session)s", program=session.program.title,
                           session=session.name),
    }
