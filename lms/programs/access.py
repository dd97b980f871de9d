"""Who may act on what in programs (DESIGN R12).

- Admins act on everything.
- A program's owner (the manager who created it) manages the program and every one of its
  sessions.
- A trainer acts on the sessions they train, and on their program only in what belongs to those
  sessions: they read the program page with their sessions on it, and cannot edit, extend or
  archive the program.
- Managers (owners and trainers alike) add to a session only the groups an admin opened to
  trainers (`Group.open_to_trainers`), and reach only the people registered in the sessions
  they manage, plus someone whose exact address they type.
"""
from sqlalchemy import or_, select

from lms.accounts.models import Role
from lms.enrollment.groups.models import Group
from lms.extensions import db
from lms.programs.models import Enrollment, EnrollmentStatus, Program, ProgramSession, SessionTrainer


def can_manage_program(user, program) -> bool:
    """Edit the program, add sessions to it, archive it: admins and its owner."""
    return user.role == Role.admin or (user.role == Role.manager and program.owner_id == user.id)


def can_open_program(user, program) -> bool:
    """Read the program page: also the trainers of its sessions (who see only theirs)."""
    if can_manage_program(user, program):
        return True
    return user.role == Role.manager and db.session.scalar(
        select(SessionTrainer.user_id).join(ProgramSession, ProgramSession.id == SessionTrainer.session_id)
        .where(ProgramSession.program_id == program.id, SessionTrainer.user_id == user.id).limit(1)
    ) is not None


def can_manage_session(user, session) -> bool:
    return can_manage_program(user, session.program) or _trains(user, session)


def sessions_shown(user, program, sessions):
    """Of a program's sessions, those this person manages."""
    if can_manage_program(user, program):
        return list(sessions)
    return [session for session in sessions if _trains(user, session)]


def _trains(user, session) -> bool:
    return user.role == Role.manager and any(trainer.id == user.id for trainer in session.trainers)


def managed_session_ids(user):
    """A select of the ids of the sessions this manager trains or whose program they own."""
    owned = select(ProgramSession.id).join(Program, Program.id == ProgramSession.program_id) \
        .where(Program.owner_id == user.id)
    trained = select(SessionTrainer.session_id).where(SessionTrainer.user_id == user.id)
    return select(ProgramSession.id).where(or_(ProgramSession.id.in_(owned), ProgramSession.id.in_(trained)))


def reachable_user_ids(user):
    """A select of the people registered (not cancelled) in the sessions this manager manages."""
    return select(Enrollment.user_id).where(Enrollment.session_id.in_(managed_session_ids(user)),
                                            Enrollment.status != EnrollmentStatus.cancelled)


def may_reach(user, person) -> bool:
    """Whether a staff member may see and act on this person within programs."""
    if user.role == Role.admin:
        return True
    return user.role == Role.manager and db.session.scalar(
        reachable_user_ids(user).where(Enrollment.user_id == person.id).limit(1)) is not None


def attachable_group_ids(user):
    """None for every group (admins); otherwise the ids of the groups opened to trainers."""
    if user.role == Role.admin:
        return None
    return set(db.session.scalars(select(Group.id).where(Group.open_to_trainers.is_(True))))


def may_attach(user, group) -> bool:
    return user.role == Role.admin or (user.role == Role.manager and group.open_to_trainers)
