"""What a trainer (manager) may reach (DESIGN R12): the sessions they train, and their program
only in what belongs to those sessions; only the groups an admin opened to trainers; only the
people registered in their sessions, plus an exact address when adding someone. The program's
owner manages all of it, as an admin does, within the same limits on groups and people.

Carl trains "Carl Run", Rita trains "Rita Run"; both are sessions of Olive's "Shared Program".
Every request of Carl's that reaches beyond Carl Run is refused and changes nothing."""
from datetime import timedelta
from typing import NamedTuple

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role, User
from lms.enrollment.groups.models import Group
from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.programs.cascade import assign_group, enroll
from lms.programs.models import Enrollment, EnrollmentStatus, ProgramSession, SessionGroup
from lms.programs.services import create_program, create_session
from lms.clock import utcnow
from tests.conftest import htmx_headers, login
from tests.test_authorization import snapshot


class Scope(NamedTuple):
    program: int
    carl_run: int
    rita_run: int
    carl: int
    rita: int
    olive: int
    open_group: int  # opened to trainers by an admin; no session yet
    closed_group: int  # "Secret Cohort": not opened to trainers
    carl_squad: int  # assigned to Carl Run (by an admin); member cadet
    rita_squad: int  # assigned to Rita Run; member rival
    cadet: int
    rival: int
    ria: int  # added to Rita Run directly
    outsider: int  # an account in no session
    boss: int  # an admin
    invitee_invitation: int  # invitee@example.com, invited by an admin into Carl Squad
    ria_invitation: int  # ria@example.com, invited to the platform by Rita
    pupil: int  # added to Carl Run directly


# What Carl must never see.
BEYOND_CARL = ["Rita Run", "rival@example.com", "ria@example.com", "outsider@example.com",
               "boss@example.com", "Rita Squad", "Secret Cohort"]


@pytest.fixture
def scope(make_user, make_group):
    now = utcnow()  # the pages read the real clock: the sessions are upcoming for them
    olive = make_user("olive@example.com", role=Role.manager, first_name="Olive", last_name="Owner")
    carl = make_user("carl@example.com", role=Role.manager, first_name="Carl", last_name="Coach")
    rita = make_user("rita@example.com", role=Role.manager, first_name="Rita", last_name="Rival")
    boss = make_user("boss@example.com", role=Role.admin, first_name="Bo", last_name="Boss")
    cadet = make_user("cadet@example.com", first_name="Cady", last_name="Cadet")
    rival = make_user("rival@example.com", first_name="Ray", last_name="Rival")
    outsider = make_user("outsider@example.com", first_name="Otto", last_name="Outsider")
    open_group = make_group("Open Cohort")
    open_group.open_to_trainers = True
    closed_group = make_group("Secret Cohort", members=[outsider])
    carl_squad = make_group("Carl Squad", members=[cadet])
    rita_squad = make_group("Rita Squad", members=[rival])
    program = create_program("Shared Program", owner=olive, now=now)
    starts = now + timedelta(days=10)
    carl_run = create_session(program, name="Carl Run", starts_at=starts, ends_at=starts + timedelta(days=1),
                              trainers=[carl], actor=olive, now=now)
    rita_run = create_session(program, name="Rita Run", starts_at=starts, ends_at=starts + timedelta(days=1),
                              trainers=[rita], actor=olive, now=now)
    assign_group(carl_run, carl_squad, actor=boss, now=now)
    assign_group(rita_run, rita_squad, actor=boss, now=now)
    (invitee,) = invite_people(["invitee@example.com"], actor=boss, now=now, group_ids=[carl_squad.id]).invitations
    (ria_invitation,) = invite_people(["ria@example.com"], actor=rita, now=now).invitations
    enroll([rita_run], [ria_invitation.user_id], now=now, direct=True)
    pupil = make_user("pupil@example.com", first_name="Pia", last_name="Pupil")
    enroll([carl_run], [pupil.id], now=now, direct=True)
    db.session.commit()
    return Scope(program.id, carl_run.id, rita_run.id, carl.id, rita.id, olive.id, open_group.id, closed_group.id,
                 carl_squad.id, rita_squad.id, cadet.id, rival.id, ria_invitation.user_id, outsider.id, boss.id,
                 invitee.id, ria_invitation.id, pupil.id)


def client_of(app, user_id):
    return login(app.test_client(), db.session.get(User, user_id))


def request_as(client, scope, method, path, data=None, target=None):
    values = scope._asdict()
    return client.open(path.format(**values), method=method,
                       data={key: str(value).format(**values) for key, value in (data or {}).items()} or None,
                       headers=htmx_headers(target) if target else None)


SESSION_EDIT = {"name": "Renamed", "starts_at": "2031-01-10T09:00", "ends_at": "2031-01-10T17:00",
                "trainers": "{carl}"}

# Every action of a session page, aimed at Rita Run.
ON_RITA_RUN = {
    "session page": ("GET", "/sessions/{rita_run}", None, None),
    "session page (htmx)": ("GET", "/sessions/{rita_run}?status=invited", None, "registration"),
    "session edit": ("POST", "/sessions/{rita_run}", SESSION_EDIT, None),
    "add a group": ("POST", "/sessions/{rita_run}/groups", {"group-group_id": "{open_group}"}, "registration"),
    "remove-group page": ("GET", "/sessions/{rita_run}/groups/{rita_squad}/remove", None, None),
    "remove a group": ("POST", "/sessions/{rita_run}/groups/{rita_squad}/remove", None, "registration"),
    "learner search": ("GET", "/sessions/{rita_run}/learners/search?q=rival", None, "learner-candidates"),
    "add a learner": ("POST", "/sessions/{rita_run}/learners", {"user_id": "{cadet}"}, "registration"),
    "remove a learner": ("POST", "/sessions/{rita_run}/learners/{ria}/remove", None, "registration"),
    "add emails": ("POST", "/sessions/{rita_run}/emails", {"emails-emails": "new@example.com",
                                                           "emails-send_email": "y"}, "registration"),
    "share a link to it": ("POST", "/admin/links/new", {"target": "session", "session_id": "{rita_run}",
                                                         "group_id": "", "role": "learner", "max_uses": "",
                                                         "expires_on": "", "allowed_domain": "",
                                                         "deactivate_on": ""}, None),
}

# The program as a whole is its owner's.
ON_THE_PROGRAM = {
    "program edit": ("POST", "/programs/{program}", {"title": "Taken Over", "description": ""}, None),
    "session add": ("POST", "/programs/{program}", {"form": "session", "name": "Carl's Extra",
                                                     "starts_at": "2031-01-10T09:00", "ends_at": "",
                                                     "trainers": "{carl}"}, None),
    "program archive": ("POST", "/programs/{program}/archive", None, None),
}

# Within Carl Run, what reaches beyond it.
BEYOND_CARL_RUN = {
    "add a group no admin opened": ("POST", "/sessions/{carl_run}/groups", {"group-group_id": "{closed_group}"},
                                    "registration"),
    "add another session's group": ("POST", "/sessions/{carl_run}/groups", {"group-group_id": "{rita_squad}"},
                                    "registration"),
    "add a learner found by id": ("POST", "/sessions/{carl_run}/learners", {"user_id": "{outsider}"},
                                  "registration"),
    "add an admin found by id": ("POST", "/sessions/{carl_run}/learners", {"user_id": "{boss}"}, "registration"),
    "add a learner with another's address": ("POST", "/sessions/{carl_run}/learners",
                                             {"user_id": "{outsider}", "email": "cadet@example.com"},
                                             "registration"),
    "remove a learner of another session": ("POST", "/sessions/{carl_run}/learners/{ria}/remove", None,
                                            "registration"),
    "an invitee's registration link": ("GET", "/admin/invitations/{invitee_invitation}/link", None, None),
    "resend Rita's invitation": ("POST", "/admin/invitations/{ria_invitation}/resend", None, None),
    "cancel Rita's invitation": ("POST", "/admin/invitations/{ria_invitation}/cancel", None, None),
    "Rita's invitation link": ("GET", "/admin/invitations/{ria_invitation}/link", None, None),
}

REFUSED = {**{f"Rita Run: {name}": action for name, action in ON_RITA_RUN.items()},
           **{f"program: {name}": action for name, action in ON_THE_PROGRAM.items()},
           **{f"Carl Run: {name}": action for name, action in BEYOND_CARL_RUN.items()}}


@pytest.mark.parametrize("name", REFUSED.keys())
def test_a_trainer_is_refused_beyond_the_sessions_they_train(app, scope, name):
    carl = client_of(app, scope.carl)
    before = snapshot()

    response = request_as(carl, scope, *REFUSED[name])

    # The link form answers as forms do: the session is not among its choices.
    refusals = (403, 404, 422) if name.endswith("share a link to it") else (403, 404)
    assert response.status_code in refusals, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    for private in BEYOND_CARL:
        assert private not in body
    assert snapshot() == before


def test_a_trainer_reads_the_program_page_with_only_their_sessions(app, scope):
    carl = client_of(app, scope.carl)

    body = request_as(carl, scope, "GET", "/programs/{program}").get_data(as_text=True)

    assert "Carl Run" in body
    for private in BEYOND_CARL:
        assert private not in body
    assert 'name="title"' not in body  # the program's own form is its owner's


def test_a_trainer_searching_for_learners_finds_only_their_people_or_an_exact_address(app, scope):
    carl = client_of(app, scope.carl)
    search = "/sessions/{carl_run}/learners/search?q="

    for q in ("outsider", "Otto", "boss", "rival", "example.com", "@", "e"):
        body = request_as(carl, scope, "GET", search + q, target="learner-candidates").get_data(as_text=True)
        for private in BEYOND_CARL:
            assert private not in body, q
    exact = request_as(carl, scope, "GET", search + "Outsider@Example.com", target="learner-candidates")
    assert "outsider@example.com" in exact.get_data(as_text=True)


def test_a_trainer_adds_someone_by_their_exact_address(app, scope):
    carl = client_of(app, scope.carl)

    response = request_as(carl, scope, "POST", "/sessions/{carl_run}/learners",
                          {"user_id": "{outsider}", "email": "outsider@example.com"}, target="registration")

    assert response.status_code == 200
    enrollment = db.session.scalar(sa.select(Enrollment).filter_by(session_id=scope.carl_run, user_id=scope.outsider))
    assert enrollment.status == EnrollmentStatus.invited


def test_a_trainer_adds_a_group_an_admin_opened_to_trainers(app, scope):
    carl = client_of(app, scope.carl)
    page = request_as(carl, scope, "GET", "/sessions/{carl_run}").get_data(as_text=True)
    assert "Open Cohort" in page and "Secret Cohort" not in page and "Rita Squad" not in page

    response = request_as(carl, scope, "POST", "/sessions/{carl_run}/groups", {"group-group_id": "{open_group}"},
                          target="registration")

    assert response.status_code == 200
    assert db.session.get(SessionGroup, (scope.carl_run, scope.open_group)) is not None


CARL_RUN_SERVED = {
    "session page": ("GET", "/sessions/{carl_run}", None, None),
    "session edit": ("POST", "/sessions/{carl_run}", SESSION_EDIT, None),
    "remove his group": ("POST", "/sessions/{carl_run}/groups/{carl_squad}/remove", None, "registration"),
    "remove a learner": ("POST", "/sessions/{carl_run}/learners/{pupil}/remove", None, "registration"),
    "add emails": ("POST", "/sessions/{carl_run}/emails", {"emails-emails": "new@example.com"}, "registration"),
}


def test_a_trainer_sees_the_link_of_an_invitation_they_sent_only(app, scope):
    carl = client_of(app, scope.carl)
    (own,) = invite_people(["mine@example.com"], actor=db.session.get(User, scope.carl), now=utcnow(),
                           group_ids=[scope.carl_squad]).invitations
    db.session.commit()

    assert carl.get(f"/admin/invitations/{own.id}/link").status_code == 200
    assert carl.get(f"/admin/invitations/{scope.invitee_invitation}/link").status_code == 403
    listed = carl.get("/admin/invitations").get_data(as_text=True)
    assert "mine@example.com" in listed and "invitee@example.com" in listed
    assert "ria@example.com" not in listed


OWNER_SERVED = {
    "Rita Run page": ("GET", "/sessions/{rita_run}", None, None),
    "Rita Run edit": ("POST", "/sessions/{rita_run}", {**SESSION_EDIT, "trainers": "{rita}"}, None),
    "Carl Run edit": ("POST", "/sessions/{carl_run}", SESSION_EDIT, None),
    "program edit": ON_THE_PROGRAM["program edit"],
    "session add": ON_THE_PROGRAM["session add"],
    "program archive": ON_THE_PROGRAM["program archive"],
}


SERVED = {**{f"Carl: {name}": ("carl", action) for name, action in CARL_RUN_SERVED.items()},
          **{f"Olive: {name}": ("olive", action) for name, action in OWNER_SERVED.items()}}


@pytest.mark.parametrize("name", SERVED.keys())
def test_a_trainer_acts_on_their_session_and_the_owner_on_the_whole_program(app, scope, name):
    who, action = SERVED[name]
    client = client_of(app, getattr(scope, who))
    before = snapshot()

    response = request_as(client, scope, *action)

    assert response.status_code in (200, 303), response.get_data(as_text=True)
    if action[0] == "POST":
        assert snapshot() != before  # the change was made
    else:
        assert snapshot() == before


def test_the_program_owner_too_adds_only_groups_opened_to_trainers(app, scope):
    olive = client_of(app, scope.olive)
    before = snapshot()

    response = request_as(olive, scope, "POST", "/sessions/{rita_run}/groups", {"group-group_id": "{closed_group}"},
                          target="registration")

    assert response.status_code == 403
    assert snapshot() == before


def test_an_admin_opens_a_group_to_trainers_on_its_page(app, scope, admin_client):
    page = admin_client.get(f"/admin/groups/{scope.closed_group}").get_data(as_text=True)
    assert "Trainers may add this group to their sessions" in page

    response = admin_client.post(f"/admin/groups/{scope.closed_group}/trainers", data={"open_to_trainers": "y"})

    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Group, scope.closed_group).open_to_trainers is True
    carl = client_of(app, scope.carl)
    assert "Secret Cohort" in request_as(carl, scope, "GET", "/sessions/{carl_run}").get_data(as_text=True)


def test_the_refusals_do_not_depend_on_the_session_being_upcoming(app, scope):
    """An ended or ongoing session of Rita's is as closed to Carl as an upcoming one."""
    session = db.session.get(ProgramSession, scope.rita_run)
    session.starts_at, session.ends_at = utcnow() - timedelta(days=3), utcnow() - timedelta(days=2)
    db.session.commit()
    carl = client_of(app, scope.carl)

    assert request_as(carl, scope, "GET", "/sessions/{rita_run}").status_code == 403
