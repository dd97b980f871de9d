"""`lms programs` and `lms sessions` (DESIGN §5): the same services as the pages."""
import json

from lms.enrollment.invitations.services import invite_people
from lms.extensions import db


def run(runner, *args):
    result = runner.invoke(args=["lms", *args])
    return result.exit_code, (json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) else result.output)


def test_build_a_program_assign_a_group_and_read_the_roster(runner, admin, make_user, make_group, now):
    learner = make_user("ann@example.com")
    make_group("Sales", members=[learner])

    code, program = run(runner, "programs", "create", "Safety", "--json")
    assert code == 0 and program["title"] == "Safety"
    code, session = run(runner, "sessions", "create", str(program["id"]), "--name", "Winter",
                        "--starts-at", "2030-01-10T09:00", "--ends-at", "2030-01-11T17:00", "--json")
    assert code == 0 and session["starts_at"] == "2030-01-10T09:00:00+00:00"
    code, assigned = run(runner, "sessions", "add-group", str(session["id"]), "Sales", "--json")
    assert code == 0 and assigned["invited"] == 1

    invite_people(["bob@example.com"], actor=admin, now=now)
    db.session.commit()
    code, added = run(runner, "sessions", "add-learner", str(session["id"]), "BOB@example.com", "--json")
    assert code == 0 and added == {"session_id": session["id"], "email": "bob@example.com", "invited": True}

    code, roster = run(runner, "sessions", "roster", str(session["id"]), "--json")
    assert code == 0
    assert roster == [
        {"email": "ann@example.com", "status": "invited", "sources": ["Sales"],
         "email_due_at": "2030-01-10T09:00:00+00:00", "email_sent_at": None},
        {"email": "bob@example.com", "status": "invited", "sources": ["direct"],
         "email_due_at": "2030-01-10T09:00:00+00:00", "email_sent_at": None},
    ]


def test_unknown_things_and_bad_dates_exit_1_with_a_message(runner):
    code, out = run(runner, "sessions", "create", "No such program", "--name", "X", "--starts-at", "2030-01-01", "--json")
    assert code == 1 and "No program" in out["error"]
    code, out = run(runner, "programs", "create", "P", "--json")
    code, out = run(runner, "sessions", "create", "P", "--name", "X", "--starts-at", "soon", "--json")
    assert code == 1 and "not an ISO date-time" in out["error"]
    code, out = run(runner, "sessions", "create", "P", "--name", "X", "--starts-at", "2030-01-02",
                    "--ends-at", "2030-01-01", "--json")
    assert code == 1 and "cannot end before it starts" in out["error"]
    code, out = run(runner, "sessions", "roster", "999", "--json")
    assert code == 1 and "No session" in out["error"]
    code, out = run(runner, "sessions", "add-learner", "999", "a@example.com", "--json")
    assert code == 1


def test_a_group_cannot_be_added_to_an_ended_session(runner, make_group, make_session, now):
    from datetime import timedelta

    make_group("Sales")
    session = make_session(starts_at=now - timedelta(days=400), ends_at=now - timedelta(days=399))
    code, out = run(runner, "sessions", "add-group", str(session.id), "Sales", "--json")
    assert code == 1 and "has ended" in out["error"]
