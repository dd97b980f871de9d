"""The group -> session cascade (DESIGN R2-R5, R11), through the services with injected time."""
from datetime import timedelta

import pytest
from sqlalchemy import event, func, insert, select

from lms.accounts.models import User, UserStatus
from lms.due_work import run_due
from lms.enrollment.groups.models import GroupMembership
from lms.enrollment.groups.services import add_group_members, remove_group_member
from lms.enrollment.invitations.services import invite_people
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.programs.cascade import (
    add_learner,
    assign_group,
    pending_only_from_group,
    remove_group,
    remove_learner,
)
from lms.programs.models import Enrollment, EnrollmentGroup, EnrollmentStatus, SessionGroup
from lms.programs.services import respond_to_enrollment

# --- helpers ------------------------------------------------------------------------------


def enrollment_of(session, user):
    db.session.expire_all()
    return db.session.scalar(select(Enrollment).where(Enrollment.session_id == session.id,
                                                      Enrollment.user_id == user.id))


def registered(session):
    """{email: status} of the session's registration."""
    db.session.expire_all()
    return dict(db.session.execute(
        select(User.email, Enrollment.status).join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.session_id == session.id)).all())


def sources(enrollment):
    return set(db.session.scalars(select(EnrollmentGroup.group_id)
                                  .where(EnrollmentGroup.enrollment_id == enrollment.id)))


def session_emails(address):
    """The session invitation emails to `address`: [(status, due_at)], oldest first."""
    db.session.expire_all()
    return [tuple(row) for row in db.session.execute(
        select(OutboxEmail.status, OutboxEmail.due_at)
        .where(OutboxEmail.recipient == address, OutboxEmail.kind == "session_invitation")
        .order_by(OutboxEmail.id))]


def kinds_to(address):
    db.session.expire_all()
    return [tuple(row) for row in db.session.execute(
        select(OutboxEmail.kind, OutboxEmail.due_at).where(OutboxEmail.recipient == address)
        .order_by(OutboxEmail.id))]


def body(message):
    return message.get_body(preferencelist=("plain",)).get_content()


def is_session_email(message):
    return "/session-invitation/" in body(message)


# --- R2: adding users to a group ------------------------------------------------------------


def test_r2_new_group_members_are_enrolled_in_its_ongoing_and_future_sessions_not_ended_ones(
        app, make_user, make_group, make_session, now):
    group = make_group("Sales")
    future = make_session(starts_at=now + timedelta(days=7), name="Future")
    ongoing = make_session(starts_at=now - timedelta(hours=2), ends_at=now + timedelta(hours=6), name="Ongoing")
    ended = make_session(starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=2), name="Ended")
    earlier = now - timedelta(days=10)
    for session in (future, ongoing, ended):
        assign_group(session, group, actor=None, now=earlier)
    db.session.commit()
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")

    add_group_members(group, [alice.id, bob.id], actor=None, now=now)
    db.session.commit()

    for session in (future, ongoing):
        assert registered(session) == {"alice@example.com": EnrollmentStatus.invited,
                                       "bob@example.com": EnrollmentStatus.invited}
        enrollment = enrollment_of(session, alice)
        assert sources(enrollment) == {group.id} and not enrollment.is_direct
    assert registered(ended) == {}
    assert [due for _, due in session_emails("alice@example.com")] == [future.starts_at, now]


def test_r2_a_learner_added_to_the_group_after_the_session_started_still_gets_it(
        app, make_user, make_group, make_session, now):
    early = make_user("early@example.com")
    group = make_group("Cohort", members=[early])
    session = make_session(starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=4))
    assign_group(session, group, actor=None, now=now - timedelta(days=2))
    db.session.commit()
    late = make_user("late@example.com")

    add_group_members(group, [late.id], actor=None, now=now)
    db.session.commit()

    enrollment = enrollment_of(session, late)
    assert enrollment.status == EnrollmentStatus.invited
    assert sources(enrollment) == {group.id}
    assert enrollment.email_due_at == now  # the session has started: the email is due at once
    assert session_emails("late@example.com") == [(OutboxStatus.queued, now)]


def test_r2_a_deactivated_account_added_to_a_group_is_not_enrolled(
        app, make_user, make_group, make_session, now):
    group = make_group("Cohort")
    session = make_session(starts_at=now + timedelta(days=3))
    assign_group(session, group, actor=None, now=now)
    db.session.commit()
    gone = make_user("gone@example.com", status=UserStatus.deactivated)
    active = make_user("active@example.com")

    add_group_members(group, [gone.id, active.id], actor=None, now=now)
    db.session.commit()

    assert registered(session) == {"active@example.com": EnrollmentStatus.invited}
    assert session_emails("gone@example.com") == []


def test_r2_a_member_leaving_the_group_after_a_session_ended_leaves_that_session_alone(
        app, make_user, make_group, make_session, now):
    """Ended sessions are left alone: their registration is history, not a pending invitation to withdraw."""
    learner = make_user("leaver@example.com")
    group = make_group("Cohort", members=[learner])
    ended = make_session(starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=2))
    assign_group(ended, group, actor=None, now=now - timedelta(days=5))
    db.session.commit()

    remove_group_member(group, learner, actor=None, now=now)
    db.session.commit()

    assert registered(ended) == {"leaver@example.com": EnrollmentStatus.invited}


# --- R3: assigning a group to a session -----------------------------------------------------


def test_r3_assigning_a_group_enrolls_its_members_and_later_joiners(
        app, make_user, make_group, make_session, now):
    members = [make_user(f"member{n}@example.com") for n in range(3)]
    group = make_group("Team", members=members)
    session = make_session(starts_at=now + timedelta(days=5))

    assert assign_group(session, group, actor=None, now=now) == 3
    db.session.commit()
    assert set(registered(session)) == {f"member{n}@example.com" for n in range(3)}
    assert all(sources(enrollment_of(session, member)) == {group.id} for member in members)

    newcomer = make_user("newcomer@example.com")
    add_group_members(group, [newcomer.id], actor=None, now=now + timedelta(days=1))
    db.session.commit()
    assert registered(session)["newcomer@example.com"] == EnrollmentStatus.invited
    assert session_emails("newcomer@example.com") == [(OutboxStatus.queued, session.starts_at)]


def test_r3_assigning_the_same_group_twice_duplicates_nothing(
        app, make_user, make_group, make_session, now):
    group = make_group("Team", members=[make_user("a@example.com"), make_user("b@example.com")])
    session = make_session(starts_at=now + timedelta(days=5))
    assert assign_group(session, group, actor=None, now=now) == 2
    db.session.commit()

    assert assign_group(session, group, actor=None, now=now + timedelta(minutes=5)) == 0
    db.session.commit()

    db.session.expire_all()
    assert len(registered(session)) == 2
    assert len(db.session.scalars(select(SessionGroup).where(SessionGroup.session_id == session.id)).all()) == 1
    assert len(session_emails("a@example.com")) == 1 and len(session_emails("b@example.com")) == 1


def test_r3_assigning_a_group_to_an_ended_session_is_refused(
        app, make_user, make_group, make_session, now):
    group = make_group("Team", members=[make_user("a@example.com")])
    ended = make_session(starts_at=now - timedelta(days=3), ends_at=now - timedelta(hours=1))

    with pytest.raises(DomainError, match="ended"):
        assign_group(ended, group, actor=None, now=now)
    db.session.rollback()

    assert registered(ended) == {}
    assert db.session.scalars(select(SessionGroup)).all() == []
    assert session_emails("a@example.com") == []


# --- R4: when the session email is due ------------------------------------------------------


def test_r4_a_future_sessions_email_is_due_at_its_start_an_ongoing_ones_now(
        app, make_user, make_group, make_session, now):
    group = make_group("Team", members=[make_user("a@example.com")])
    future = make_session(starts_at=now + timedelta(days=7), name="Future")
    ongoing = make_session(starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=3), name="Ongoing")
    assign_group(future, group, actor=None, now=now)
    assign_group(ongoing, group, actor=None, now=now)
    db.session.commit()

    user = db.session.scalar(select(User).where(User.email == "a@example.com"))
    assert enrollment_of(future, user).email_due_at == future.starts_at
    assert enrollment_of(ongoing, user).email_due_at == now
    assert sorted(due for _, due in session_emails("a@example.com")) == [now, future.starts_at]


def test_r4_someone_new_to_the_platform_gets_the_platform_invitation_now_and_the_session_email_at_the_start(
        app, make_group, make_session, now):
    group = make_group("Newcomers")
    session = make_session(starts_at=now + timedelta(days=7))
    assign_group(session, group, actor=None, now=now)
    db.session.commit()

    invite_people(["new@example.com"], actor=None, now=now, group_ids=[group.id])
    db.session.commit()

    assert kinds_to("new@example.com") == [("invitation", now), ("session_invitation", session.starts_at)]
    assert registered(session) == {"new@example.com": EnrollmentStatus.invited}


def test_r4_over_smtp_the_session_email_goes_out_once_at_the_start_after_the_platform_invitation(
        app, make_group, make_session, now, smtp_server):
    group = make_group("Newcomers")
    session = make_session(starts_at=now + timedelta(days=2), name="Kick-off")
    assign_group(session, group, actor=None, now=now)
    invite_people(["new@example.com"], actor=None, now=now, group_ids=[group.id])
    db.session.commit()

    run_due(now=now)
    run_due(now=session.starts_at - timedelta(minutes=1))
    before_start = smtp_server.to("new@example.com")
    assert len(before_start) == 1 and not is_session_email(before_start[0])
    assert "/invitation/" in body(before_start[0])
    user = db.session.scalar(select(User).where(User.email == "new@example.com"))
    assert enrollment_of(session, user).email_sent_at is None

    run_due(now=session.starts_at)
    run_due(now=session.starts_at + timedelta(hours=1))
    session_messages = [m for m in smtp_server.to("new@example.com") if is_session_email(m)]
    assert len(session_messages) == 1
    assert session.program.title in session_messages[0]["Subject"]
    assert "Kick-off" in session_messages[0]["Subject"]
    assert len(smtp_server.to("new@example.com")) == 2
    assert enrollment_of(session, user).email_sent_at == session.starts_at
    assert session_emails("new@example.com") == [(OutboxStatus.sent, session.starts_at)]


# --- R5: removing a group, a member, a learner ----------------------------------------------


@pytest.fixture
def two_group_session(make_user, make_group, make_session, now):
    """A future session with groups A and B and four learners brought in different ways."""
    only_a, a_and_direct, a_and_b, accepted = (make_user(f"{name}@example.com") for name in
                                               ("only-a", "a-and-direct", "a-and-b", "accepted"))
    group_a = make_group("A", members=[only_a, a_and_direct, a_and_b, accepted])
    group_b = make_group("B", members=[a_and_b])
    session = make_session(starts_at=now + timedelta(days=7))
    assign_group(session, group_a, actor=None, now=now)
    assign_group(session, group_b, actor=None, now=now)
    add_learner(session, a_and_direct, actor=None, now=now)
    respond_to_enrollment(enrollment_of(session, accepted), user=accepted, accept=True, now=now)
    db.session.commit()
    return session, group_a, group_b


def test_r5_removing_a_group_cancels_only_what_it_alone_brought_and_is_pending(
        app, two_group_session, now):
    session, group_a, group_b = two_group_session
    assert pending_only_from_group(session, group_a) == 1

    assert remove_group(session, group_a, actor=None, now=now + timedelta(hours=1)) == 1
    db.session.commit()

    assert registered(session) == {
        "only-a@example.com": EnrollmentStatus.cancelled,
        "a-and-direct@example.com": EnrollmentStatus.invited,
        "a-and-b@example.com": EnrollmentStatus.invited,
        "accepted@example.com": EnrollmentStatus.accepted,
    }
    assert [status for status, _ in session_emails("only-a@example.com")] == [OutboxStatus.cancelled]
    for kept in ("a-and-direct", "a-and-b"):
        assert [status for status, _ in session_emails(f"{kept}@example.com")] == [OutboxStatus.queued]
    # Accepting withdrew the invitation email (R12); removing the group changes nothing of it.
    assert [status for status, _ in session_emails("accepted@example.com")] == [OutboxStatus.cancelled]
    db.session.expire_all()
    assert db.session.scalars(select(SessionGroup.group_id).where(SessionGroup.session_id == session.id)).all() == [group_b.id]
    user = db.session.scalar(select(User).where(User.email == "a-and-b@example.com"))
    assert sources(enrollment_of(session, user)) == {group_b.id}


def test_r5_the_count_shown_before_removing_a_group_matches_what_removing_cancels(
        app, make_user, make_group, make_session, now):
    group = make_group("Big", members=[make_user() for _ in range(5)])
    session = make_session(starts_at=now + timedelta(days=1))
    assign_group(session, group, actor=None, now=now)
    db.session.commit()
    announced = pending_only_from_group(session, group)

    assert announced == 5
    assert remove_group(session, group, actor=None, now=now) == announced
    db.session.commit()
    assert set(registered(session).values()) == {EnrollmentStatus.cancelled}
    assert pending_only_from_group(session, group) == 0


def test_r5_removing_a_member_from_a_group_cancels_what_only_that_group_brought(
        app, two_group_session, now):
    session, group_a, group_b = two_group_session
    users = {user.email: user for user in db.session.scalars(select(User))}

    remove_group_member(group_a, users["only-a@example.com"], actor=None, now=now)
    remove_group_member(group_a, users["a-and-b@example.com"], actor=None, now=now)
    remove_group_member(group_a, users["a-and-direct@example.com"], actor=None, now=now)
    remove_group_member(group_a, users["accepted@example.com"], actor=None, now=now)
    db.session.commit()

    assert registered(session) == {
        "only-a@example.com": EnrollmentStatus.cancelled,
        "a-and-direct@example.com": EnrollmentStatus.invited,
        "a-and-b@example.com": EnrollmentStatus.invited,
        "accepted@example.com": EnrollmentStatus.accepted,
    }
    assert [status for status, _ in session_emails("only-a@example.com")] == [OutboxStatus.cancelled]
    assert [status for status, _ in session_emails("a-and-b@example.com")] == [OutboxStatus.queued]


def test_r5_removing_a_learner_cancels_a_direct_only_enrollment_but_not_one_a_group_brings(
        app, make_user, make_group, make_session, now):
    direct_only, also_group = make_user("direct@example.com"), make_user("grouped@example.com")
    group = make_group("Team", members=[also_group])
    session = make_session(starts_at=now + timedelta(days=2))
    assign_group(session, group, actor=None, now=now)
    add_learner(session, direct_only, actor=None, now=now)
    add_learner(session, also_group, actor=None, now=now)
    db.session.commit()

    assert remove_learner(session, direct_only, actor=None, now=now) is True
    assert remove_learner(session, also_group, actor=None, now=now) is False
    db.session.commit()

    assert registered(session) == {"direct@example.com": EnrollmentStatus.cancelled,
                                   "grouped@example.com": EnrollmentStatus.invited}
    kept = enrollment_of(session, also_group)
    assert not kept.is_direct and sources(kept) == {group.id}
    assert [status for status, _ in session_emails("direct@example.com")] == [OutboxStatus.cancelled]
    assert [status for status, _ in session_emails("grouped@example.com")] == [OutboxStatus.queued]


def test_r5_a_cancelled_learner_added_again_is_invited_again_with_a_new_email_and_link(
        app, make_user, make_session, now):
    learner = make_user("back@example.com")
    session = make_session(starts_at=now + timedelta(days=2))
    add_learner(session, learner, actor=None, now=now)
    db.session.commit()
    first_token = enrollment_of(session, learner).token_hash
    remove_learner(session, learner, actor=None, now=now)
    db.session.commit()

    assert add_learner(session, learner, actor=None, now=now + timedelta(hours=1)) is True
    db.session.commit()

    enrollment = enrollment_of(session, learner)
    assert enrollment.status == EnrollmentStatus.invited and enrollment.is_direct
    assert enrollment.token_hash != first_token  # the withdrawn link stays dead
    assert session_emails("back@example.com") == [(OutboxStatus.cancelled, session.starts_at),
                                                  (OutboxStatus.queued, session.starts_at)]


# --- sources ---------------------------------------------------------------------------------


def test_an_enrollment_brought_by_two_groups_lists_both_and_direct_when_added_directly(
        app, make_user, make_group, make_session, now):
    both, direct = make_user("both@example.com"), make_user("direct@example.com")
    first, second = make_group("First", members=[both]), make_group("Second", members=[both])
    session = make_session(starts_at=now + timedelta(days=2))
    assign_group(session, first, actor=None, now=now)
    assign_group(session, second, actor=None, now=now)
    add_learner(session, direct, actor=None, now=now)
    db.session.commit()

    by_groups = enrollment_of(session, both)
    assert sources(by_groups) == {first.id, second.id} and not by_groups.is_direct
    added = enrollment_of(session, direct)
    assert added.is_direct and sources(added) == set()
    assert len(session_emails("both@example.com")) == 1


# --- R11: set-based ---------------------------------------------------------------------------


def _group_of(size, name, now):
    from lms.enrollment.groups.services import create_group

    group = create_group(name, actor=None, now=now)
    rows = [{"email": f"{name.lower()}-{n}@example.com", "first_name": "Bulk", "last_name": f"{n}",
             "role": "learner", "status": UserStatus.active, "language": "en", "additional_info": "",
             "created_at": now, "updated_at": now} for n in range(size)]
    db.session.execute(insert(User), rows)
    ids = db.session.scalars(select(User.id).where(User.email.like(f"{name.lower()}-%"))).all()
    db.session.execute(insert(GroupMembership), [
        {"group_id": group.id, "user_id": user_id, "created_at": now} for user_id in ids])
    db.session.commit()
    return group


def _statements_to_assign(group, session, now):
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert assign_group(session, group, actor=None, now=now) > 0
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(statements)


def test_r11_assigning_a_big_group_uses_a_number_of_statements_that_does_not_grow_with_it(
        app, make_session, now):
    small, big = _group_of(20, "Small", now), _group_of(2000, "Big", now)
    small_session = make_session(starts_at=now + timedelta(days=3), name="Small")
    big_session = make_session(starts_at=now + timedelta(days=3), name="Big")

    small_count = _statements_to_assign(small, small_session, now)
    big_count = _statements_to_assign(big, big_session, now)

    assert len(registered(big_session)) == 2000
    db.session.expire_all()
    queued = db.session.scalars(select(OutboxEmail.id).where(OutboxEmail.kind == "session_invitation")).all()
    assert len(queued) == 2020
    # Batches of 1,000: 2,000 members may take a second batch, never a query per member.
    assert big_count <= 2 * small_count, (small_count, big_count)


def test_r2_people_added_to_a_group_of_several_sessions_get_each_once_whatever_they_had(
        app, make_user, make_group, make_session, now):
    came_back, direct, new = (make_user(f"{name}@example.com") for name in ("came-back", "direct", "new"))
    group = make_group("Cohort")
    first = make_session(starts_at=now + timedelta(days=2), name="First")
    second = make_session(starts_at=now + timedelta(days=4), name="Second")
    ended = make_session(starts_at=now - timedelta(days=4), ends_at=now - timedelta(days=3), name="Ended")
    for session in (first, second):
        assign_group(session, group, actor=None, now=now)
    db.session.add(SessionGroup(session_id=ended.id, group_id=group.id, created_at=now))
    add_learner(first, came_back, actor=None, now=now)
    remove_learner(first, came_back, actor=None, now=now)
    add_learner(second, direct, actor=None, now=now)
    db.session.commit()

    add_group_members(group, [came_back.id, direct.id, new.id], actor=None, now=now)
    db.session.commit()

    invited = {person.email: EnrollmentStatus.invited for person in (came_back, direct, new)}
    assert registered(first) == invited and registered(second) == invited
    assert registered(ended) == {}
    assert enrollment_of(second, direct).is_direct and sources(enrollment_of(second, direct)) == {group.id}
    assert session_emails("direct@example.com") == [(OutboxStatus.queued, second.starts_at),
                                                    (OutboxStatus.queued, first.starts_at)]
    assert session_emails("came-back@example.com") == [(OutboxStatus.cancelled, first.starts_at),
                                                       (OutboxStatus.queued, first.starts_at),
                                                       (OutboxStatus.queued, second.starts_at)]
    assert sorted(session_emails("new@example.com")) == [(OutboxStatus.queued, first.starts_at),
                                                         (OutboxStatus.queued, second.starts_at)]


def test_r11_adding_members_to_a_group_takes_as_many_statements_for_ten_sessions_as_for_one(
        app, make_user, make_group, make_session, now):
    def statements_to_add(sessions_count, name):
        group = make_group(name)
        for number in range(sessions_count):
            assign_group(make_session(starts_at=now + timedelta(days=3), name=f"{name} {number}"), group,
                         actor=None, now=now)
        people = [make_user(f"{name.lower()}{n}@example.com").id for n in range(30)]
        db.session.commit()
        statements = []

        def count(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            add_group_members(group, people, actor=None, now=now)
            db.session.commit()
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(Enrollment).join(
            SessionGroup, SessionGroup.session_id == Enrollment.session_id).where(
            SessionGroup.group_id == group.id)) == 30 * sessions_count
        return len(statements)

    assert statements_to_add(10, "Ten") == statements_to_add(1, "One")
