"""Users, groups and sessions linked (DESIGN R2-R5), set-based (R11).

An enrollment remembers where it came from: `is_direct` (a trainer added the learner) and one
EnrollmentGroup row per group that brought it. It is cancelled when its last source goes while
it is still pending; accepted enrollments stay (R5). A session's invitation email is due at
its start, or now if it has started (R4); ended sessions are left alone (R2).
"""
from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from lms.accounts.models import User, UserStatus
from lms.audit.services import record_event
from lms.db_utils import among, chunked, insert_ignoring_conflicts
from lms.enrollment.groups.models import GroupMembership
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.notifications.outbox import cancel_queued_emails, queue_emails
from lms.programs.models import Enrollment, EnrollmentGroup, EnrollmentStatus, ProgramSession, SessionGroup
from lms.tokens import new_token


def email_due_at(session, now):
    """R4: at the session's start if it is in the future, otherwise now."""
    return session.starts_at if session.starts_at > now else now


def has_ended(session, now):
    return session.ends_at is not None and session.ends_at <= now


def _refuse_if_ended(session, now):
    if has_ended(session, now):
        raise DomainError("This session has ended; its registration can no longer change.")


def _open_sessions_of_group(group_id, now):
    return db.session.scalars(
        select(ProgramSession)
        .join(SessionGroup, SessionGroup.session_id == ProgramSession.id)
        .where(SessionGroup.group_id == group_id, ProgramSession.archived_at.is_(None),
               or_(ProgramSession.ends_at.is_(None), ProgramSession.ends_at > now))
    ).all()


def enroll(sessions, user_ids, *, now, group_id=None, direct=False, send_email=True) -> list[int]:
    """Put these users in these sessions' registrations (ignoring deactivated accounts),
    recording the source; newcomers (and cancelled ones coming back) are invited and, unless
    send_email is False, their email is queued for R4's time. Returns the ids of the
    enrollments that became invited.

    Every session is done in the same statements: adding 1,000 people to a group that 20
    sessions use is a few statements per 1,000 people, not per session (R11).
    """
    sessions = [sessions] if isinstance(sessions, ProgramSession) else list(sessions)
    if not sessions:
        return []
    session_ids = [session.id for session in sessions]
    due = {session.id: email_due_at(session, now) for session in sessions}
    invited_ids = []
    for batch in chunked(sorted(set(user_ids))):
        users = {user_id: (email, language) for user_id, email, language in db.session.execute(
            select(User.id, User.email, User.language)
            .where(among(User.id, batch), User.status != UserStatus.deactivated))}
        in_batch = (among(Enrollment.session_id, session_ids), among(Enrollment.user_id, list(users)))
        existing = {(session_id, user_id): (enrollment_id, status)
                    for session_id, user_id, enrollment_id, status in db.session.execute(
                        select(Enrollment.session_id, Enrollment.user_id, Enrollment.id, Enrollment.status)
                        .where(*in_batch))}
        fresh = [(session_id, user_id) for session_id in session_ids for user_id in users
                 if (session_id, user_id) not in existing]
        insert_ignoring_conflicts(Enrollment, [
            {"session_id": session_id, "user_id": user_id, "status": EnrollmentStatus.invited,
             "is_direct": direct, "email_due_at": due[session_id] if send_email else None,
             "created_at": now, "updated_at": now,
             **_token_pair()}
            for session_id, user_id in fresh
        ])
        returning = [pair for pair, (_, status) in existing.items() if status == EnrollmentStatus.cancelled]
        if returning:
            db.session.execute(update(Enrollment), [
                {"id": existing[pair][0], "status": EnrollmentStatus.invited,
                 "email_due_at": due[pair[0]] if send_email else None,
                 "email_sent_at": None, "responded_at": None, "updated_at": now, **_token_pair()}
                for pair in returning
            ])
        if direct and existing:
            db.session.execute(update(Enrollment).where(*in_batch, Enrollment.is_direct.is_(False))
                               .values(is_direct=True, updated_at=now)
                               .execution_options(synchronize_session=False))
        registered = db.session.execute(
            select(Enrollment.session_id, Enrollment.user_id, Enrollment.id, Enrollment.token_hash).where(*in_batch)
        ).all()
        if group_id is not None:
            insert_ignoring_conflicts(EnrollmentGroup, [
                {"enrollment_id": enrollment_id, "group_id": group_id} for _, _, enrollment_id, _ in registered])
        newly_invited = set(fresh) | set(returning)
        invited = [row for row in registered if (row.session_id, row.user_id) in newly_invited]
        queue_emails([] if not send_email else [
            {"recipient": users[user_id][0], "user_id": user_id, "enrollment_id": enrollment_id,
             "kind": "session_invitation", "language": users[user_id][1], "due_at": due[session_id],
             "context": {"enrollment_id": enrollment_id},
             "dedupe_key": f"session_invitation:{enrollment_id}:{token_hash[:16]}"}
            for session_id, user_id, enrollment_id, token_hash in invited
        ], now=now)
        invited_ids += [row.id for row in invited]
    return invited_ids


def _token_pair():
    nonce, _, token_hash = new_token()
    return {"token_nonce": nonce, "token_hash": token_hash}


def _cancel_sourceless(enrollment_ids, *, now, only_pending=True) -> int:
    """Cancel the enrollments among these that no source keeps any more (R5)."""
    cancelled = []
    for batch in chunked(enrollment_ids):
        query = select(Enrollment.id).where(
            Enrollment.id.in_(batch), Enrollment.is_direct.is_(False),
            ~exists().where(EnrollmentGroup.enrollment_id == Enrollment.id),
            Enrollment.status != EnrollmentStatus.cancelled,
        )
        if only_pending:
            query = query.where(Enrollment.status == EnrollmentStatus.invited)
        cancelled += db.session.scalars(query).all()
    for batch in chunked(cancelled):
        db.session.execute(update(Enrollment).where(Enrollment.id.in_(batch))
                           .values(status=EnrollmentStatus.cancelled, updated_at=now)
                           .execution_options(synchronize_session=False))
        cancel_queued_emails(OutboxEmail.enrollment_id.in_(batch), reason="no longer registered")
    return len(cancelled)


def on_group_members_added(group_id, user_ids, *, now, send_email=True) -> int:
    """R2: new members are enrolled in every ongoing or future session of the group."""
    return len(enroll(_open_sessions_of_group(group_id, now), user_ids, now=now, group_id=group_id,
                      send_email=send_email))


def on_group_members_removed(group_id, user_ids, *, now) -> int:
    """R5, set-based: the group no longer keeps these people's enrollments in its ongoing and
    future sessions; the pending ones that nothing else keeps are cancelled."""
    affected = []
    for batch in chunked(sorted(set(user_ids))):
        affected += db.session.scalars(
            select(EnrollmentGroup.enrollment_id)
            .join(Enrollment, Enrollment.id == EnrollmentGroup.enrollment_id)
            .join(ProgramSession, ProgramSession.id == Enrollment.session_id)
            .where(EnrollmentGroup.group_id == group_id, Enrollment.user_id.in_(batch),
                   or_(ProgramSession.ends_at.is_(None), ProgramSession.ends_at > now))).all()
    if not affected:  # ended sessions are left alone (R2)
        return 0
    for batch in chunked(affected):
        db.session.execute(delete(EnrollmentGroup).where(
            EnrollmentGroup.group_id == group_id, EnrollmentGroup.enrollment_id.in_(batch)))
    return _cancel_sourceless(affected, now=now)


def assign_group(session, group, *, actor, now) -> int:
    """R3: the group's current members are enrolled now; later members when they join."""
    _refuse_if_ended(session, now)
    insert_ignoring_conflicts(SessionGroup, [{"session_id": session.id, "group_id": group.id,
                                              "added_by_id": actor.id if actor else None, "created_at": now}])
    member_ids = db.session.scalars(select(GroupMembership.user_id).where(GroupMembership.group_id == group.id)).all()
    invited = enroll(session, member_ids, now=now, group_id=group.id)
    record_event(actor, "session.group_assigned", "session", session.id, now=now, group_id=group.id,
                 invited=len(invited))
    return len(invited)


def pending_only_from_group(session, group) -> int:
    """How many pending invitations removing this group would cancel (for the confirmation)."""
    other = aliased(EnrollmentGroup)
    other_source = exists().where(other.enrollment_id == Enrollment.id, other.group_id != group.id)
    return db.session.scalar(
        select(func.count()).select_from(Enrollment)
        .join(EnrollmentGroup, and_(EnrollmentGroup.enrollment_id == Enrollment.id, EnrollmentGroup.group_id == group.id))
        .where(Enrollment.session_id == session.id, Enrollment.status == EnrollmentStatus.invited,
               Enrollment.is_direct.is_(False), ~other_source))


def remove_group(session, group, *, actor, now) -> int:
    """R5: the group leaves the registration; what only it brought and is pending is cancelled."""
    _refuse_if_ended(session, now)
    db.session.execute(delete(SessionGroup).where(SessionGroup.session_id == session.id,
                                                  SessionGroup.group_id == group.id))
    affected = db.session.scalars(
        select(EnrollmentGroup.enrollment_id)
        .join(Enrollment, Enrollment.id == EnrollmentGroup.enrollment_id)
        .where(EnrollmentGroup.group_id == group.id, Enrollment.session_id == session.id)).all()
    for batch in chunked(affected):
        db.session.execute(delete(EnrollmentGroup).where(EnrollmentGroup.group_id == group.id,
                                                         EnrollmentGroup.enrollment_id.in_(batch)))
    cancelled = _cancel_sourceless(affected, now=now)
    record_event(actor, "session.group_removed", "session", session.id, now=now, group_id=group.id,
                 cancelled=cancelled)
    return cancelled


def add_learner(session, user, *, actor, now) -> bool:
    """A trainer adds one existing learner directly. Returns whether an invitation went out."""
    _refuse_if_ended(session, now)
    if user.status == UserStatus.deactivated:
        raise DomainError(f"The account of {user.email} is deactivated.")
    invited = enroll(session, [user.id], now=now, direct=True)
    record_event(actor, "session.learner_added", "session", session.id, now=now, user_id=user.id)
    return bool(invited)


def remove_learner(session, user, *, actor, now) -> bool:
    """A trainer removes a learner they added; one still brought by a group stays registered."""
    _refuse_if_ended(session, now)
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.session_id == session.id,
                                                            Enrollment.user_id == user.id))
    if enrollment is None:
        return False
    enrollment.is_direct = False
    enrollment.updated_at = now
    db.session.flush()
    cancelled = _cancel_sourceless([enrollment.id], now=now, only_pending=False)
    record_event(actor, "session.learner_removed", "session", session.id, now=now, user_id=user.id)
    return bool(cancelled)


def withdraw_everything_of(user_ids, *, now) -> dict[int, dict]:
    """R12: people whose platform invitation was cancelled or declined leave their groups, and
    their pending enrollments in sessions that have not ended are cancelled with their emails
    (accepted ones stay, as in R5). Returns {user id: {"group_ids", "session_ids"}}: what to
    put back if they are invited again (session_ids: the sessions they were added to directly)."""
    withdrawn = {user_id: {"group_ids": [], "session_ids": []} for user_id in user_ids}
    for batch in chunked(sorted(withdrawn)):
        for group_id, user_id in db.session.execute(
                select(GroupMembership.group_id, GroupMembership.user_id).where(GroupMembership.user_id.in_(batch))
                .order_by(GroupMembership.group_id)):
            withdrawn[user_id]["group_ids"].append(group_id)
        db.session.execute(delete(GroupMembership).where(GroupMembership.user_id.in_(batch))
                           .execution_options(synchronize_session=False))
        open_enrollments = db.session.execute(
            select(Enrollment.id, Enrollment.user_id, Enrollment.session_id, Enrollment.is_direct, Enrollment.status)
            .join(ProgramSession, ProgramSession.id == Enrollment.session_id)
            .where(Enrollment.user_id.in_(batch), Enrollment.status != EnrollmentStatus.cancelled,
                   or_(ProgramSession.ends_at.is_(None), ProgramSession.ends_at > now))
            .order_by(Enrollment.session_id)).all()
        pending_direct = [row.id for row in open_enrollments
                          if row.is_direct and row.status == EnrollmentStatus.invited]
        for row in open_enrollments:
            if row.id in pending_direct:
                withdrawn[row.user_id]["session_ids"].append(row.session_id)
        ids = [row.id for row in open_enrollments]
        for ids_batch in chunked(ids):
            db.session.execute(delete(EnrollmentGroup).where(EnrollmentGroup.enrollment_id.in_(ids_batch)))
        for ids_batch in chunked(pending_direct):
            db.session.execute(update(Enrollment).where(Enrollment.id.in_(ids_batch))
                               .values(is_direct=False, updated_at=now)
                               .execution_options(synchronize_session=False))
        _cancel_sourceless(ids, now=now)
    return withdrawn


def pending_session_counts(user_ids, *, now) -> dict[int, int]:
    """{user id: how many sessions that have not ended they are invited to and have not answered}."""
    counts = {}
    for batch in chunked(sorted(set(user_ids))):
        counts.update(db.session.execute(
            select(Enrollment.user_id, func.count())
            .join(ProgramSession, ProgramSession.id == Enrollment.session_id)
            .where(Enrollment.user_id.in_(batch), Enrollment.status == EnrollmentStatus.invited,
                   or_(ProgramSession.ends_at.is_(None), ProgramSession.ends_at > now))
            .group_by(Enrollment.user_id)).all())
    return counts


def send_invitation_emails_now(session, enrollment_ids, *, actor, now) -> int:
    """A trainer sends now the invitation emails of these pending learners (None: every pending
    one) that are still waiting for the session's start, failed, or were never sent (added with
    email off). Returns how many."""
    _refuse_if_ended(session, now)
    chosen = [among(Enrollment.id, list(enrollment_ids))] if enrollment_ids is not None else []
    rows = db.session.execute(
        select(Enrollment.id, Enrollment.token_hash, User.email, User.language, User.id)
        .join(User, User.id == Enrollment.user_id)
        .where(Enrollment.session_id == session.id, *chosen,
               Enrollment.status == EnrollmentStatus.invited, User.status != UserStatus.deactivated)).all()
    keys = {f"session_invitation:{enrollment_id}:{token_hash[:16]}": enrollment_id
            for enrollment_id, token_hash, *_ in rows}
    existing = {email.dedupe_key: email for batch in chunked(keys) for email in db.session.scalars(
        select(OutboxEmail).where(among(OutboxEmail.dedupe_key, batch)))}  # a session of thousands: in batches
    sending = []
    for enrollment_id, token_hash, address, language, user_id in rows:
        key = f"session_invitation:{enrollment_id}:{token_hash[:16]}"
        email = existing.get(key)
        if email is None:
            queue_emails([{"recipient": address, "user_id": user_id, "enrollment_id": enrollment_id,
                           "kind": "session_invitation", "language": language, "due_at": now,
                           "context": {"enrollment_id": enrollment_id}, "dedupe_key": key}], now=now)
        elif email.status == OutboxStatus.sent:
            continue
        else:  # waiting, failed or cancelled: once more, from now
            email.status, email.due_at, email.next_attempt_at = OutboxStatus.queued, now, now
            email.attempts, email.last_error, email.locked_by = 0, None, None
            email.context = {"enrollment_id": enrollment_id}
        sending.append(enrollment_id)
    for batch in chunked(sending):
        db.session.execute(update(Enrollment).where(Enrollment.id.in_(batch))
                           .values(email_due_at=now, updated_at=now).execution_options(synchronize_session=False))
    if sending:
        record_event(actor, "session.emails_sent_now", "session", session.id, now=now, count=len(sending))
    db.session.flush()
    return len(sending)
