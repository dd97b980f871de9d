"""Programs and sessions: reading what a person is part of (the cascade comes with issue 4)."""
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from lms.accounts.models import Role, UserStatus
from lms.db_utils import get_by_id
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


def group_ids_of_trained_sessions(user) -> set[int]:
    """The groups assigned to the sessions this person trains: what a manager may invite into."""
    from lms.programs.models import SessionGroup

    return set(
        db.session.scalars(
            select(SessionGroup.group_id)
            .join(SessionTrainer, SessionTrainer.session_id == SessionGroup.session_id)
            .where(SessionTrainer.user_id == user.id)
        )
    )


ANSWER_WORDS = {"accepted": _l("accepted"), "declined": _l("declined"), "cancelled": _l("cancelled"),
                "invited": _l("invited")}


def respond_to_enrollment(enrollment, *, user, accept: bool, now):
    """A learner accepts or declines a session invitation, and may change their answer until the
    session starts. Only their own; the update is conditional on the status they answered from,
    so a double click or a second tab changes nothing twice."""
    from sqlalchemy import update

    from lms.errors import DomainError
    from lms.notifications.models import OutboxEmail
    from lms.notifications.outbox import cancel_queued_emails

    if enrollment.user_id != user.id:
        raise DomainError(_l("This invitation is for someone else."))
    if user.status == UserStatus.deactivated:
        raise DomainError(_l("This account is deactivated: it can no longer answer invitations. "
                             "Ask your administrator."))
    new_status = EnrollmentStatus.accepted if accept else EnrollmentStatus.declined
    db.session.refresh(enrollment)
    current = enrollment.status
    if current == EnrollmentStatus.cancelled:
        raise DomainError(_l("This invitation was withdrawn: you are no longer registered for this session."))
    if current == new_status:
        raise DomainError(_l("You already answered this invitation: %(answer)s.",
                              answer=ANSWER_WORDS[current.value]))
    if current != EnrollmentStatus.invited and not may_change_answer(enrollment, now):
        raise DomainError(_l("The session has started: your answer (%(answer)s) can no longer change.",
                              answer=ANSWER_WORDS[current.value]))
    changed = db.session.execute(
        update(Enrollment)
        .where(Enrollment.id == enrollment.id, Enrollment.status == current)
        .values(status=new_status, responded_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(enrollment)
    if not changed:  # answered meanwhile, in another tab
        raise DomainError(_l("You already answered this invitation: %(answer)s.",
                              answer=ANSWER_WORDS[enrollment.status.value]))
    # R12: either answer withdraws the invitation email still waiting for the session's start.
    cancel_queued_emails(OutboxEmail.enrollment_id == enrollment.id,
                         reason="session accepted" if accept else "session declined")
    return enrollment


def may_change_answer(enrollment, now) -> bool:
    """An answer given can change until the session starts."""
    return (enrollment.status in (EnrollmentStatus.accepted, EnrollmentStatus.declined)
            and now < enrollment.session.starts_at)


def find_enrollment(token: str):
    from lms.tokens import hash_token

    if not token or len(token) > 200:
        return None
    return db.session.scalar(select(Enrollment).where(Enrollment.token_hash == hash_token(token)))


def pending_platform_invitation(user):
    """R4: someone new to the platform accepts the platform invitation before any session."""
    from lms.accounts.models import UserStatus
    from lms.enrollment.invitations.models import Invitation, InvitationStatus

    if user.status != UserStatus.invited:
        return None
    return db.session.scalar(select(Invitation).where(Invitation.user_id == user.id,
                                                      Invitation.status == InvitationStatus.pending))


def registration_link(invitation, then=None):
    """The invitation's registration page; `then`: a path of this site to go on to afterwards."""
    from flask import url_for

    from lms.tokens import token_from_nonce

    if invitation is None:
        return None
    extra = {"next": then} if then else {}
    return url_for("registration.invitation", token=token_from_nonce(invitation.token_nonce), **extra)


SESSION_START_FORMAT = "d MMMM y, HH:mm zzzz"  # 22 November 2026, 09:00 Coordinated Universal Time
SESSION_END_FORMAT = "d MMMM y, HH:mm"


def session_lines(sessions):
    """What an email says of each session: program, session name and dates, written as the
    session invitation email writes them."""
    from lms.i18n import format_instant

    return [
        {"program": session.program.title, "name": session.name,
         "starts": format_instant(session.starts_at, SESSION_START_FORMAT),
         "ends": format_instant(session.ends_at, SESSION_END_FORMAT) if session.ends_at else None}
        for session in sorted(sessions, key=lambda session: session.starts_at)
    ]


def pending_sessions_by_user(user_ids, *, now=None) -> dict[int, list]:
    """{user id: the sessions they are invited to and have not answered yet}, leaving out those
    that have ended or were archived, in one query (with their programs, which the invitation
    emails name). `now`: the time of the page or email (default: the clock's)."""
    from sqlalchemy import or_
    from sqlalchemy.orm import joinedload

    from lms.clock import utcnow

    now = now or utcnow()
    by_user: dict[int, list] = {}
    if not user_ids:
        return by_user
    for user_id, session in db.session.execute(
        select(Enrollment.user_id, ProgramSession).join(Enrollment, Enrollment.session_id == ProgramSession.id)
        .where(Enrollment.user_id.in_(list(user_ids)), Enrollment.status == EnrollmentStatus.invited,
               ProgramSession.archived_at.is_(None),
               or_(ProgramSession.ends_at.is_(None), ProgramSession.ends_at > now))
        .options(joinedload(ProgramSession.program))
    ):
        by_user.setdefault(user_id, []).append(session)
    return by_user


def open_sessions_of_groups(group_ids, *, now):
    """The ongoing and future sessions these groups are assigned to (the invite form's preview)."""
    from sqlalchemy import or_

    from lms.programs.models import SessionGroup

    return db.session.scalars(
        select(ProgramSession).join(SessionGroup, SessionGroup.session_id == ProgramSession.id)
        .where(SessionGroup.group_id.in_(list(group_ids)), ProgramSession.archived_at.is_(None),
               or_(ProgramSession.ends_at.is_(None), ProgramSession.ends_at > now))
        .distinct()
    ).all()


def create_program(title, *, owner, now, description=""):
    from lms.audit.services import record_event
    from lms.errors import DomainError

    title = " ".join((title or "").split())
    if not title:
        raise DomainError("Enter a title.", field="title")
    program = Program(title=title[:200], description=(description or "").strip(),
                      owner_id=owner.id if owner else None, created_at=now)
    db.session.add(program)
    db.session.flush()
    record_event(owner, "program.created", "program", program.id, now=now, title=program.title)
    return program


def create_session(program, *, name, starts_at, ends_at=None, trainers=(), actor, now):
    from lms.audit.services import record_event
    from lms.errors import DomainError

    name = " ".join((name or "").split())
    if not name:
        raise DomainError("Enter a session name.", field="name")
    if starts_at.tzinfo is None:
        raise DomainError("The start needs a time zone.", field="starts_at")
    if ends_at is not None and ends_at < starts_at:
        raise DomainError("The session cannot end before it starts.", field="ends_at")
    session = ProgramSession(program=program, name=name[:200], starts_at=starts_at, ends_at=ends_at,
                             created_at=now)
    session.trainers = list(trainers)
    db.session.add(session)
    db.session.flush()
    record_event(actor, "session.created", "session", session.id, now=now, program_id=program.id)
    return session


def find_program(reference):
    from lms.errors import NotFound

    reference = str(reference).strip()
    program = get_by_id(Program, reference)
    program = program or db.session.scalar(select(Program).where(Program.title == reference))
    if program is None:
        raise NotFound(f"No program with the id or title {reference!r}.")
    return program


def find_session(reference):
    from lms.errors import NotFound

    reference = str(reference).strip()
    session = get_by_id(ProgramSession, reference)
    if session is None:
        raise NotFound(f"No session with the id {reference!r}.")
    return session


def session_roster_query(session, *, status=None, search=""):
    """The session's registrations, by learner email, as (Enrollment, email, first name, last
    name) rows; `status` and `search` (words matching the start of a name or the email) filter."""
    from lms.accounts.models import User
    from lms.accounts.services import words_match

    query = (select(Enrollment, User.email, User.first_name, User.last_name)
             .join(User, User.id == Enrollment.user_id)
             .where(Enrollment.session_id == session.id))
    if status:
        query = query.where(Enrollment.status == EnrollmentStatus(status))
    if (search or "").strip():
        query = query.where(words_match(search))
    return query.order_by(User.email)


def roster_rows(session, rows):
    """The rows of a registration page as the session page and `sessions roster` show them: the
    learner, status, and where the registration comes from (direct, groups), read for these
    rows only."""
    from lms.db_utils import among
    from lms.enrollment.groups.models import Group
    from lms.programs.models import EnrollmentGroup

    sources = {}
    ids = [enrollment.id for enrollment, *_ in rows]
    if ids:
        for enrollment_id, name in db.session.execute(
            select(EnrollmentGroup.enrollment_id, Group.name)
            .join(Group, Group.id == EnrollmentGroup.group_id)
            .where(among(EnrollmentGroup.enrollment_id, ids))
            .order_by(Group.name_key)
        ):
            sources.setdefault(enrollment_id, []).append(name)
    return [
        {"enrollment": enrollment, "email": email, "name": " ".join(p for p in (first, last) if p),
         "sources": (["direct"] if enrollment.is_direct else []) + sources.get(enrollment.id, [])}
        for enrollment, email, first, last in rows
    ]


def session_roster(session):
    """The whole registration (the command line's `sessions roster`), a thousand rows at a time."""
    from lms.db_utils import chunked

    rows = db.session.execute(session_roster_query(session)).all()
    return [row for batch in chunked(rows) for row in roster_rows(session, batch)]


def programs_for(user):
    """The programs a person manages, newest first."""
    query = select(Program).where(Program.archived_at.is_(None)).order_by(Program.created_at.desc(), Program.id.desc())
    if user.role != Role.admin:
        trained = select(ProgramSession.program_id).join(SessionTrainer, SessionTrainer.session_id == ProgramSession.id) \
            .where(SessionTrainer.user_id == user.id)
        from sqlalchemy import or_

        query = query.where(or_(Program.owner_id == user.id, Program.id.in_(trained)))
    return db.session.scalars(query).all()


def status_counts(session_ids) -> dict[int, dict[str, int]]:
    """{session id: {status: count}} for the program page, in one query."""
    from sqlalchemy import func

    counts: dict[int, dict[str, int]] = {session_id: {} for session_id in session_ids}
    for session_id, status, count in db.session.execute(
        select(Enrollment.session_id, Enrollment.status, func.count())
        .where(Enrollment.session_id.in_(list(session_ids)))
        .group_by(Enrollment.session_id, Enrollment.status)
    ):
        counts[session_id][status.value] = count
    return counts


def update_program(program, *, title, description, actor, now):
    from lms.audit.services import record_event
    from lms.errors import DomainError

    title = " ".join((title or "").split())
    if not title:
        raise DomainError("Enter a title.", field="title")
    program.title, program.description = title[:200], (description or "").strip()
    record_event(actor, "program.updated", "program", program.id, now=now)


def archive_program(program, *, actor, now):
    from lms.audit.services import record_event

    program.archived_at = now
    record_event(actor, "program.archived", "program", program.id, now=now)


def staff_choices():
    """Who can train a session: managers and admins."""
    from lms.accounts.models import User, UserStatus

    return db.session.scalars(
        select(User).where(User.role.in_([Role.manager, Role.admin]), User.status == UserStatus.active)
        .order_by(User.last_name, User.first_name)
    ).all()


def update_session(session, *, name, starts_at, ends_at, trainers, actor, now):
    """Edit a session; moving its start moves the unsent invitation emails with it (R4)."""
    from sqlalchemy import update

    from lms.audit.services import record_event
    from lms.errors import DomainError
    from lms.notifications.models import OutboxEmail, OutboxStatus
    from lms.programs.cascade import email_due_at

    name = " ".join((name or "").split())
    if not name:
        raise DomainError("Enter a session name.", field="name")
    if ends_at is not None and ends_at < starts_at:
        raise DomainError("The session cannot end before it starts.", field="ends_at")
    moved = starts_at != session.starts_at
    session.name, session.starts_at, session.ends_at = name[:200], starts_at, ends_at
    session.trainers = list(trainers)
    db.session.flush()
    if moved:
        due = email_due_at(session, now)
        unsent = select(Enrollment.id).where(Enrollment.session_id == session.id,
                                             Enrollment.status == EnrollmentStatus.invited,
                                             Enrollment.email_due_at.is_not(None),  # None: no email
                                             Enrollment.email_sent_at.is_(None))
        db.session.execute(update(Enrollment).where(Enrollment.id.in_(unsent)).values(email_due_at=due)
                           .execution_options(synchronize_session=False))
        db.session.execute(update(OutboxEmail).where(OutboxEmail.enrollment_id.in_(unsent),
                                                     OutboxEmail.status == OutboxStatus.queued)
                           .values(due_at=due, next_attempt_at=due))
    record_event(actor, "session.updated", "session", session.id, now=now, moved=moved)
