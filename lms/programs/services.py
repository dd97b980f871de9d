"""Programs and sessions: reading what a person is part of (the cascade comes with issue 4)."""
from sqlalchemy import select

from lms.accounts.models import Role
from lms.extensions import db
from lms.programs.models import (
    Enrollment,
    EnrollmentStatus,
    Program,
    ProgramSession,
    SessionTrainer,
)


def sessions_for_user(user, *, now):
    """What a person sees on their home page: sessions they train, and sessions they are in.

    Returns a list of (session, program, enrollment or None, state), soonest first, ended last.
    """
    rows = []
    if user.role in (Role.manager, Role.admin):
        trained = db.session.execute(
            select(ProgramSession, Program)
            .join(Program, Program.id == ProgramSession.program_id)
            .join(SessionTrainer, SessionTrainer.session_id == ProgramSession.id)
            .where(SessionTrainer.user_id == user.id, ProgramSession.archived_at.is_(None))
        ).all()
        rows += [(session, program, None) for session, program in trained]
    enrolled = db.session.execute(
        select(ProgramSession, Program, Enrollment)
        .join(Program, Program.id == ProgramSession.program_id)
        .join(Enrollment, Enrollment.session_id == ProgramSession.id)
        .where(Enrollment.user_id == user.id, Enrollment.status != EnrollmentStatus.cancelled)
    ).all()
    rows += [tuple(row) for row in enrolled]
    result = [(session, program, enrollment, session.state(now)) for session, program, enrollment in rows]
    order = {"ongoing": 0, "upcoming": 1, "ended": 2}
    return sorted(result, key=lambda row: (order[row[3].value], row[0].starts_at))
