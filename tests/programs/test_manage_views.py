"""Programs and sessions for trainers: the program pages and a session's registration
(+Group, +Learner, Add emails, removing, filtering), through the pages as a trainer uses them.

Views use the real clock, so sessions are placed relative to tests.pages.utcnow().
"""
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from sqlalchemy import func, select

from lms.accounts.models import Role, User, UserStatus
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.programs.cascade import add_learner, assign_group
from lms.programs.models import Enrollment, EnrollmentStatus, Program, ProgramSession, SessionGroup
from lms.programs.services import create_program, create_session
from tests.conftest import htmx_headers, login
from tests.pages import field_error, flashes, text, utcnow, visible

ENDED_MESSAGE = "This session has ended; its registration can no longer change."


# --- helpers ------------------------------------------------------------------------------


def minute(moment):
    """A datetime-local form value has minutes, no seconds."""
    return moment.replace(second=0, microsecond=0)


def shown(moment):
    """How the pages print an instant: in the platform's time zone, to the minute."""
    return moment.astimezone(ZoneInfo(current_app.config["LMS_TIMEZONE"])).strftime("%Y-%m-%d %H:%M")


def local_input(moment):
    return moment.astimezone(ZoneInfo(current_app.config["LMS_TIMEZONE"])).strftime("%Y-%m-%dT%H:%M")


def rows(html):
    """The visible text of each table body row."""
    return [visible(row) for row in re.findall(r"<tr>(.*?)</tr>", html, re.S) if "<td" in row]


def row_of(html, needle):
    found = [row for row in rows(html) if needle in row]
    assert len(found) <= 1, found
    return found[0] if found else None


def status_of(html, email):
    """The status badge in the registration row of `email`."""
    found = [re.search(r'class="badge badge-(\w+)"', row).group(1)
             for row in re.findall(r"<tr>(.*?)</tr>", html, re.S) if email in row]
    assert len(found) == 1, found
    return found[0]


def fresh(model, ident):
    db.session.expire_all()
    return db.session.get(model, ident)


def enrollment_of(session_id, user_id):
    db.session.expire_all()
    return db.session.scalar(select(Enrollment).where(Enrollment.session_id == session_id,
                                                      Enrollment.user_id == user_id))


def session_email_of(enrollment_id):
    db.session.expire_all()
    return db.session.scalar(select(OutboxEmail).where(OutboxEmail.enrollment_id == enrollment_id,
                                                       OutboxEmail.kind == "session_invitation"))


def count(model, *where):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def upcoming(make_session):
    """A session starting in ten days (on the minute, as the form would store it)."""
    starts = minute(utcnow()) + timedelta(days=10)
    return make_session(starts_at=starts, ends_at=starts + timedelta(days=1), name="Spring run")


# --- programs -----------------------------------------------------------------------------


def test_creating_a_program_opens_its_page_and_lists_it(admin_client):
    response = admin_client.post("/programs", data={"title": "  Safety   basics ", "description": "Two days"})

    assert response.status_code == 303
    program = db.session.scalar(select(Program))
    assert response.location == f"/programs/{program.id}"
    page = admin_client.get(response.location)
    assert page.status_code == 200
    assert "Program 'Safety basics' created. Add its sessions below." in flashes(text(page))
    assert "No session yet: add the first one below." in visible(text(page))
    assert row_of(text(admin_client.get("/programs")), "Safety basics") is not None


def test_a_program_without_a_title_is_refused_next_to_the_field(admin_client):
    response = admin_client.post("/programs", data={"title": "   ", "description": "Two days"})

    assert response.status_code == 422
    assert field_error(text(response), "title") == "This field is required."
    assert count(Program) == 0


def test_a_manager_lists_only_the_programs_they_own_or_train(app, make_user, make_session):
    manager = make_user("mia@example.com", role=Role.manager)
    client = login(app.test_client(), manager)
    trained = make_session(trainer=manager, name="Trained run")
    make_session(name="Someone else's run")
    client.post("/programs", data={"title": "Mine", "description": ""})

    html = text(client.get("/programs"))
    assert len(rows(html)) == 2
    assert row_of(html, "Mine") is not None and row_of(html, trained.program.title) is not None


def test_the_program_page_lists_sessions_with_their_state_and_answers(admin_client, admin, make_user):
    now = utcnow()
    program = create_program("Leadership", owner=admin, now=now)
    soon = create_session(program, name="Next month", starts_at=now + timedelta(days=30),
                          ends_at=now + timedelta(days=31), actor=admin, now=now)
    create_session(program, name="This week", starts_at=now - timedelta(days=1),
                   ends_at=now + timedelta(days=2), actor=admin, now=now)
    create_session(program, name="Last year", starts_at=now - timedelta(days=400),
                   ends_at=now - timedelta(days=399), actor=admin, now=now)
    people = [make_user() for _ in range(5)]
    for person in people:
        add_learner(soon, person, actor=admin, now=now)
    db.session.flush()
    answers = {people[0].id: EnrollmentStatus.accepted, people[1].id: EnrollmentStatus.declined,
               people[2].id: EnrollmentStatus.cancelled}
    for enrollment in db.session.scalars(select(Enrollment).where(Enrollment.session_id == soon.id)):
        enrollment.status = answers.get(enrollment.user_id, enrollment.status)
    db.session.commit()

    html = text(admin_client.get(f"/programs/{program.id}"))

    assert row_of(html, "Next month").endswith("upcoming 2 1 1")  # invited, accepted, declined
    assert row_of(html, "This week").endswith("ongoing 0 0 0")
    assert row_of(html, "Last year").endswith("ended 0 0 0")


def test_adding_a_session_reads_its_times_in_the_platform_time_zone(app, admin_client, admin, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_TIMEZONE", "Europe/Brussels")
    program = create_program("Leadership", owner=admin, now=utcnow())
    db.session.commit()

    response = admin_client.post(f"/programs/{program.id}", data={
        "form": "session", "name": "Winter run", "starts_at": "2031-01-10T09:00",
        "ends_at": "2031-01-10T17:00", "trainers": str(admin.id)})

    assert response.status_code == 303
    session = db.session.scalar(select(ProgramSession))
    assert response.location == f"/sessions/{session.id}"
    assert session.starts_at == datetime(2031, 1, 10, 8, 0, tzinfo=timezone.utc)
    assert session.ends_at == datetime(2031, 1, 10, 16, 0, tzinfo=timezone.utc)
    assert [trainer.id for trainer in session.trainers] == [admin.id]
    page = visible(text(admin_client.get(response.location)))
    assert "2031-01-10 09:00 – 2031-01-10 17:00" in page and "upcoming" in page


def test_a_session_that_ends_before_it_starts_is_refused_next_to_the_end(admin_client, admin):
    program = create_program("Leadership", owner=admin, now=utcnow())
    db.session.commit()

    response = admin_client.post(f"/programs/{program.id}", data={
        "form": "session", "name": "Backwards", "starts_at": "2031-01-10T09:00",
        "ends_at": "2031-01-09T17:00", "trainers": str(admin.id)})

    assert response.status_code == 422
    assert field_error(text(response), "ends_at") == "The session cannot end before it starts."
    assert count(ProgramSession) == 0


def test_editing_a_program_saves_it(admin_client, admin):
    program = create_program("Leadrship", owner=admin, now=utcnow())
    db.session.commit()

    response = admin_client.post(f"/programs/{program.id}", data={"title": "Leadership", "description": "New"})

    assert response.status_code == 303
    assert fresh(Program, program.id).title == "Leadership"
    assert "Program saved." in flashes(text(admin_client.get(response.location)))


def test_archiving_a_program_removes_it_from_the_list(admin_client, upcoming):
    title = upcoming.program.title
    assert row_of(text(admin_client.get("/programs")), title) is not None

    response = admin_client.post(f"/programs/{upcoming.program_id}/archive")

    assert response.status_code == 303 and response.location == "/programs"
    page = admin_client.get("/programs")
    assert f"Program {title!r} archived." in flashes(text(page))
    assert row_of(text(page), title) is None


# --- the session page ---------------------------------------------------------------------


def test_the_session_page_is_a_full_page_and_its_registration_a_fragment(admin_client, upcoming, make_user):
    add_learner(upcoming, make_user("robin@example.com"), actor=None, now=utcnow())
    db.session.commit()

    page = admin_client.get(f"/sessions/{upcoming.id}")
    fragment = admin_client.get(f"/sessions/{upcoming.id}", headers=htmx_headers("registration"))
    boosted = admin_client.get(f"/sessions/{upcoming.id}", headers=htmx_headers("main"))

    assert page.status_code == fragment.status_code == boosted.status_code == 200
    assert "<html" in text(page) and "Edit the session" in text(page)
    assert "<html" not in text(fragment) and "Edit the session" not in text(fragment)
    assert "robin@example.com" in text(fragment)
    assert "<html" in text(boosted)


def test_adding_a_group_invites_its_members_with_the_email_due_at_the_start(
        admin_client, upcoming, make_user, make_group):
    members = [make_user("ann@example.com"), make_user("bob@example.com")]
    group = make_group("Night shift", members=members)

    response = admin_client.post(f"/sessions/{upcoming.id}/groups", data={"group-group_id": str(group.id)},
                                 headers=htmx_headers("registration"))

    assert response.status_code == 200
    html = text(response)
    assert "<html" not in html
    assert "Night shift added: 2 learners invited." in flashes(html)
    for member in members:
        row = row_of(html, member.email)
        assert "invited" in row and "Night shift" in row and "direct" not in row
        assert f"due {shown(upcoming.starts_at)}" in row
    assert count(SessionGroup, SessionGroup.session_id == upcoming.id, SessionGroup.group_id == group.id) == 1


def test_adding_a_group_without_htmx_redirects_to_the_session(admin_client, upcoming, make_user, make_group):
    group = make_group("Night shift", members=[make_user("ann@example.com")])

    response = admin_client.post(f"/sessions/{upcoming.id}/groups", data={"group-group_id": str(group.id)})

    assert response.status_code == 303 and response.location == f"/sessions/{upcoming.id}"
    page = text(admin_client.get(response.location))
    assert "Night shift added: 1 learner invited." in flashes(page)
    assert "invited" in row_of(page, "ann@example.com")


def test_learner_search_lists_matching_people_not_yet_registered(admin_client, upcoming, make_user):
    make_user("sam.free@example.com", first_name="Sam")
    registered = make_user("sam.taken@example.com", first_name="Sam")
    make_user("sam.gone@example.com", first_name="Sam", status=UserStatus.deactivated)
    make_user("kim@example.com", first_name="Kim")
    add_learner(upcoming, registered, actor=None, now=utcnow())
    db.session.commit()

    response = admin_client.get(f"/sessions/{upcoming.id}/learners/search?q=sam",
                                headers=htmx_headers("learner-candidates"))

    assert response.status_code == 200
    html = text(response)
    assert "<html" not in html
    assert "sam.free@example.com" in html
    for absent in ("sam.taken@example.com", "sam.gone@example.com", "kim@example.com"):
        assert absent not in html
    nobody = text(admin_client.get(f"/sessions/{upcoming.id}/learners/search?q=zzz"))
    assert "Nobody else matches “zzz”." in visible(nobody)


def test_adding_a_learner_registers_them_directly(admin_client, upcoming, make_user):
    learner = make_user("robin@example.com", first_name="Robin", last_name="Hood")

    response = admin_client.post(f"/sessions/{upcoming.id}/learners", data={"user_id": str(learner.id)},
                                 headers=htmx_headers("registration"))

    assert response.status_code == 200
    html = text(response)
    assert "Robin Hood invited." in flashes(html)
    row = row_of(html, "robin@example.com")
    assert "invited" in row and "direct" in row and f"due {shown(upcoming.starts_at)}" in row
    assert session_email_of(enrollment_of(upcoming.id, learner.id).id).due_at == upcoming.starts_at


def test_adding_emails_registers_people_and_invites_newcomers_to_the_platform(
        admin_client, upcoming, make_user):
    existing = make_user("known@example.com")

    response = admin_client.post(f"/sessions/{upcoming.id}/emails", data={
        "emails-emails": "Known@example.com, new.person@example.com; not-an-address",
        "emails-send_email": "y"}, headers=htmx_headers("registration"))

    assert response.status_code == 200
    html = text(response)
    assert ("2 registered (1 new to the platform, invited first). "
            "Left out: not-an-address (not a valid email address).") in flashes(html)
    newcomer = db.session.scalar(select(User).where(User.email == "new.person@example.com"))
    assert newcomer.status == UserStatus.invited
    invitation = db.session.scalar(select(Invitation).where(Invitation.user_id == newcomer.id))
    assert invitation.status == InvitationStatus.pending
    for person in (existing, newcomer):
        assert enrollment_of(upcoming.id, person.id).status == EnrollmentStatus.invited
        row = row_of(html, person.email)
        assert "invited" in row and "direct" in row
    assert row_of(html, "not-an-address") is None
    # R4: the platform invitation goes first, the session's when the session starts
    emails = db.session.execute(select(OutboxEmail.kind, OutboxEmail.due_at)
                                .where(OutboxEmail.recipient == newcomer.email)
                                .order_by(OutboxEmail.due_at)).all()
    assert [kind for kind, _ in emails][-1] == "session_invitation"
    assert emails[0].kind != "session_invitation" and emails[0].due_at < upcoming.starts_at
    assert emails[-1].due_at == upcoming.starts_at


def test_adding_emails_without_sending_queues_no_email(admin_client, upcoming):
    """Unticking "Send the invitation emails" means nobody is emailed (not even later)."""
    response = admin_client.post(f"/sessions/{upcoming.id}/emails", data={
        "emails-emails": "quiet@example.com"}, headers=htmx_headers("registration"))

    assert response.status_code == 200
    newcomer = db.session.scalar(select(User).where(User.email == "quiet@example.com"))
    assert enrollment_of(upcoming.id, newcomer.id).status == EnrollmentStatus.invited
    queued = db.session.scalars(select(OutboxEmail.kind).where(OutboxEmail.recipient == "quiet@example.com",
                                                                OutboxEmail.status == OutboxStatus.queued)).all()
    assert queued == []
    row = row_of(text(response), "quiet@example.com")
    assert "not emailed" in row and "due" not in row


def test_adding_emails_again_says_who_was_already_registered_and_keeps_their_answer(
        admin_client, upcoming, make_user):
    ann = make_user("ann@example.com")
    add_learner(upcoming, ann, actor=None, now=utcnow())
    enrollment_of(upcoming.id, ann.id).status = EnrollmentStatus.accepted
    db.session.commit()

    response = admin_client.post(f"/sessions/{upcoming.id}/emails", data={
        "emails-emails": "ann@example.com\nbob@example.com", "emails-send_email": "y"},
        headers=htmx_headers("registration"))

    assert ("2 registered (1 new to the platform, invited first). 1 was already registered: unchanged."
            in flashes(text(response)))
    assert enrollment_of(upcoming.id, ann.id).status == EnrollmentStatus.accepted
    assert count(OutboxEmail, OutboxEmail.recipient == "ann@example.com") == 1  # no second invitation


@pytest.fixture
def registration(upcoming, make_user, make_group):
    """A session with group "Day shift": ann and bob pending only through it, cara accepted,
    dan also added directly, eve also through "Night shift"."""
    now = utcnow()
    ann, bob, cara, dan, eve = (make_user(f"{name}@example.com") for name in ("ann", "bob", "cara", "dan", "eve"))
    day = make_group("Day shift", members=[ann, bob, cara, dan, eve])
    night = make_group("Night shift", members=[eve])
    assign_group(upcoming, day, actor=None, now=now)
    assign_group(upcoming, night, actor=None, now=now)
    add_learner(upcoming, dan, actor=None, now=now)
    db.session.flush()
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.user_id == cara.id))
    enrollment.status, enrollment.responded_at = EnrollmentStatus.accepted, now
    db.session.commit()
    return {"session": upcoming, "day": day, "night": night,
            **{user.email.split("@")[0]: user for user in (ann, bob, cara, dan, eve)}}


def test_removing_a_group_says_how_many_invitations_it_cancels(admin_client, registration):
    session, day = registration["session"], registration["day"]

    response = admin_client.get(f"/sessions/{session.id}/groups/{day.id}/remove",
                                headers=htmx_headers(f"group-{day.id}"))

    assert response.status_code == 200
    html = text(response)
    assert "<html" not in html and f'id="group-{day.id}"' in html
    assert "Remove Day shift? 2 pending invitations will be cancelled (accepted ones stay)." in visible(html)
    assert count(SessionGroup, SessionGroup.group_id == day.id) == 1  # asking changes nothing
    page = admin_client.get(f"/sessions/{session.id}/groups/{day.id}/remove")
    assert "<html" in text(page) and "2 pending invitations will be cancelled" in visible(text(page))


def test_removing_a_group_cancels_exactly_the_invitations_only_it_brought(admin_client, registration):
    session, day = registration["session"], registration["day"]

    response = admin_client.post(f"/sessions/{session.id}/groups/{day.id}/remove",
                                 headers=htmx_headers("registration"))

    assert response.status_code == 200
    html = text(response)
    assert "Day shift removed; 2 pending invitations cancelled." in flashes(html)
    expected = {"ann": EnrollmentStatus.cancelled, "bob": EnrollmentStatus.cancelled,
                "cara": EnrollmentStatus.accepted, "dan": EnrollmentStatus.invited,
                "eve": EnrollmentStatus.invited}
    for name, status in expected.items():
        enrollment = enrollment_of(session.id, registration[name].id)
        assert enrollment.status == status, name
        assert status_of(html, f"{name}@example.com") == status.value
        email = session_email_of(enrollment.id)
        assert email.status == (OutboxStatus.cancelled if status == EnrollmentStatus.cancelled
                                else OutboxStatus.queued), name
    assert "Day shift" not in row_of(html, "eve@example.com")
    assert f'id="group-{day.id}"' not in html
    assert count(SessionGroup, SessionGroup.session_id == session.id) == 1


def test_removing_a_learner_cancels_their_pending_invitation(admin_client, upcoming, make_user):
    learner = make_user("robin@example.com")
    add_learner(upcoming, learner, actor=None, now=utcnow())
    db.session.commit()

    response = admin_client.post(f"/sessions/{upcoming.id}/learners/{learner.id}/remove",
                                 headers=htmx_headers("registration"))

    assert response.status_code == 200
    html = text(response)
    assert f"{learner.display_name} removed from the session." in flashes(html)
    row = row_of(html, "robin@example.com")
    assert "cancelled" in row and "Remove" not in row and "due " not in row
    enrollment = enrollment_of(upcoming.id, learner.id)
    assert enrollment.status == EnrollmentStatus.cancelled
    assert session_email_of(enrollment.id).status == OutboxStatus.cancelled


def test_removing_a_learner_a_group_also_brought_keeps_them(admin_client, registration):
    session, dan = registration["session"], registration["dan"]

    response = admin_client.post(f"/sessions/{session.id}/learners/{dan.id}/remove",
                                 headers=htmx_headers("registration"))

    html = text(response)
    assert f"{dan.display_name} stays registered through a group." in flashes(html)
    row = row_of(html, "dan@example.com")
    assert "invited" in row and "Day shift" in row and "direct" not in row
    assert enrollment_of(session.id, dan.id).status == EnrollmentStatus.invited


def test_the_status_filter_lists_only_that_status(admin_client, registration):
    session = registration["session"]

    response = admin_client.get(f"/sessions/{session.id}?status=accepted", headers=htmx_headers("registration"))

    html = text(response)
    assert [row.split(" ")[0] for row in rows(html)] == ["Test"]
    assert row_of(html, "cara@example.com") is not None
    for name in ("ann", "bob", "dan", "eve"):
        assert f"{name}@example.com" not in html
    assert "Accepted (1)" in visible(html) and "All (5)" in visible(html)
    declined = text(admin_client.get(f"/sessions/{session.id}?status=declined"))
    assert rows(declined) == [] and "Nobody with this status." in visible(declined)


def test_moving_the_start_moves_the_unsent_invitation_emails(admin_client, admin, registration):
    session = registration["session"]
    sent = enrollment_of(session.id, registration["bob"].id)
    sent.email_sent_at = utcnow()
    db.session.commit()
    old_start = session.starts_at
    new_start = old_start + timedelta(days=3)

    response = admin_client.post(f"/sessions/{session.id}", data={
        "name": "Spring run", "starts_at": local_input(new_start),
        "ends_at": local_input(new_start + timedelta(days=1)), "trainers": str(admin.id)})

    assert response.status_code == 303
    assert fresh(ProgramSession, session.id).starts_at == new_start
    ann = enrollment_of(session.id, registration["ann"].id)
    assert ann.email_due_at == new_start
    assert session_email_of(ann.id).due_at == new_start
    assert enrollment_of(session.id, registration["bob"].id).email_due_at == old_start
    page = text(admin_client.get(f"/sessions/{session.id}"))
    assert "Session saved." in flashes(page)
    assert f"due {shown(new_start)}" in row_of(page, "ann@example.com")


def test_an_ended_session_keeps_its_registration_and_refuses_additions(
        admin_client, make_session, make_user, make_group):
    now = utcnow()
    session = make_session(starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=1), name="Past run")
    add_learner(session, make_user("robin@example.com"), actor=None, now=now - timedelta(days=4))
    db.session.commit()
    group = make_group("Night shift", members=[make_user("ann@example.com")])

    page = text(admin_client.get(f"/sessions/{session.id}"))
    assert "This session has ended: its registration is kept as it was." in visible(page)
    assert "+Group" not in page and "Add emails" not in page
    assert row_of(page, "robin@example.com") is not None

    response = admin_client.post(f"/sessions/{session.id}/groups", data={"group-group_id": str(group.id)},
                                 headers=htmx_headers("registration"))
    assert ENDED_MESSAGE in flashes(text(response))
    emails = admin_client.post(f"/sessions/{session.id}/emails", data={
        "emails-emails": "late@example.com", "emails-send_email": "y"}, headers=htmx_headers("registration"))
    assert ENDED_MESSAGE in flashes(text(emails))
    assert count(SessionGroup) == 0
    assert count(Enrollment) == 1
    assert count(User, User.email == "late@example.com") == 0


def test_a_trainer_reaches_their_sessions_from_the_home_page(app, make_user, make_session):
    from tests.conftest import login

    trainer = make_user("coach@example.com", role=Role.manager)
    session = make_session(trainer=trainer, name="Evening run")
    home = text(login(app.test_client(), trainer).get("/"))
    assert f'<a href="/sessions/{session.id}">Evening run</a>' in home


def test_after_adding_a_group_the_add_emails_form_still_sends_emails_by_default(admin_client, upcoming, make_group):
    group = make_group("Day shift")

    html = text(admin_client.post(f"/sessions/{upcoming.id}/groups", data={"group-group_id": str(group.id)},
                                  headers=htmx_headers("registration")))

    checkbox = re.search(r'<input[^>]*name="emails-send_email"[^>]*>', html).group(0)
    assert "checked" in checkbox


def test_once_every_group_is_in_the_registration_the_page_says_so_instead_of_an_empty_list(
        app, admin_client, make_group, make_session):
    group = make_group("Only Group")
    session = make_session(starts_at=utcnow() + timedelta(days=5))
    assign_group(session, group, actor=None, now=utcnow())
    db.session.commit()

    page = visible(text(admin_client.get(f"/sessions/{session.id}")))

    assert "Every group is in this registration already." in page
    assert 'name="group-group_id"' not in text(admin_client.get(f"/sessions/{session.id}"))
