"""The in-app inbox: notices (R1) and pending session invitations, with a count for the badge."""
from sqlalchemy import func, select, update

from lms.extensions import db
from lms.notifications.models import UserNotice
from lms.programs.models import Enrollment, EnrollmentStatus


def unread_notices(user):
    return db.session.scalars(
        select(UserNotice).where(UserNotice.user_id == user.id, UserNotice.read_at.is_(None))
        .order_by(UserNotice.created_at.desc(), UserNotice.id.desc())
    ).all()


def pending_enrollments(user):
    return db.session.scalars(
        select(Enrollment).where(Enrollment.user_id == user.id, Enrollment.status == EnrollmentStatus.invited)
        .order_by(Enrollment.created_at)
    ).all()


def changeable_answers(user, *, now):
    """The sessions this person answered that have not started: they may still change their mind."""
    from lms.programs.models import ProgramSession

    return db.session.scalars(
        select(Enrollment).join(ProgramSession, ProgramSession.id == Enrollment.session_id)
        .where(Enrollment.user_id == user.id,
               Enrollment.status.in_([EnrollmentStatus.accepted, EnrollmentStatus.declined]),
               ProgramSession.starts_at > now)
        .order_by(ProgramSession.starts_at)
    ).all()


def inbox_count(user) -> int:
    """What the badge shows: unread notices plus session invitations waiting for an answer."""
    notices = select(func.count()).select_from(UserNotice).where(
        UserNotice.user_id == user.id, UserNotice.read_at.is_(None)).scalar_subquery()
    invitations = select(func.count()).select_from(Enrollment).where(
        Enrollment.user_id == user.id, Enrollment.status == EnrollmentStatus.invited).scalar_subquery()
    return db.session.scalar(select(notices + invitations))


def mark_notices_read(user, notice_ids, *, now) -> int:
    """Mark the user's own notices read (others' ids are ignored)."""
    return db.session.execute(
        update(UserNotice)
        .where(UserNotice.user_id == user.id, UserNotice.id.in_(notice_ids), UserNotice.read_at.is_(None))
        .values(read_at=now)
    ).rowcount
