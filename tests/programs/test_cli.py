"""`lms programs` and `lms sessions` (DESIGN §5): the same services as the pages."""
import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from lms.accounts.models import User, UserStatus
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.programs.models import EnrollmentStatus
from lms.programs.services import session_roster


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
    assert code == 0
    assert [(item["email"], item["platform"], item["status"], item["invited"]) for item in added["learners"]] == [
        ("bob@example.com", "already_invited", "invited", True)]

    code, roster = run(runner, "sessions", "roster", str(session["id"]), "--json")
    assert code == 0
    assert roster == [
        {"email": "ann@example.com", "status": "invited", "sources": ["Sales"],
         "email_due_at": "2030-01-10T09:00:00+00:00", "email_sent_at": None,
         "email_state": "due", "email_note": "no mail server yet (set MAIL_SERVER)"},
        {"email": "bob@example.com", "status": "invited", "sources": ["direct"],
         "email_due_at": "2030-01-10T09:00:00+00:00", "email_sent_at": None,
         "email_state": "due", "email_note": "no mail server yet (set MAIL_SERVER)"},
    ]


def test_the_roster_command_says_what_the_page_says_of_each_email_and_send_now_sends_it(
        runner, smtp_server, make_user, make_session):
    """Issue 16, lines 5 and 10 at the command line: the true state, and Send now."""
    from lms.clock import utcnow
    from lms.notifications.dispatcher import dispatch_due_emails
    from lms.programs.cascade import enroll

    session = make_session(starts_at=utcnow() + timedelta(days=30))
    quiet, waiting = make_user("quiet@example.com"), make_user("waiting@example.com")
    enroll(session, [quiet.id], now=utcnow(), direct=True, send_email=False)
    enroll(session, [waiting.id], now=utcnow(), direct=True)
    db.session.commit()

    code, roster = run(runner, "sessions", "roster", str(session.id), "--json")
    assert code == 0
    assert [(row["email"], row["email_state"]) for row in roster] == [("quiet@example.com", "not_emailed"),
                                                                      ("waiting@example.com", "due")]
    code, out = run(runner, "sessions", "roster", str(session.id))
    assert "quiet@example.com\tinvited\tdirect\tnot emailed (added with email off)" in out

    code, sent = run(runner, "sessions", "send-now", str(session.id), "quiet@example.com", "--json")
    assert (code, sent) == (0, {"session_id": session.id, "sent_now": 1})
    assert dispatch_due_emails(now=utcnow()).sent == 1
    assert [message["To"] for message in smtp_server.messages] == ["quiet@example.com"]
    code, roster = run(runner, "sessions", "roster", str(session.id), "--json")
    assert [(row["email"], row["email_state"]) for row in roster] == [("quiet@example.com", "sent"),
                                                                      ("waiting@example.com", "due")]
    code, out = run(runner, "sessions", "send-now", str(session.id))
    assert (code, out.strip()) == (0, "1 invitation email will go out now.")


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


# --- add-learner: the session page's Add emails, from a script (DESIGN §5) -----------------


def upcoming_session(make_session):
    """A session a week from the real today (the command uses the real clock)."""
    start = datetime.now(timezone.utc).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=7)
    return make_session(starts_at=start, ends_at=start + timedelta(days=1))


def emails_to(address):
    return db.session.execute(select(OutboxEmail.kind, OutboxEmail.due_at)
                              .where(OutboxEmail.recipient == address, OutboxEmail.status == OutboxStatus.queued)
                              .order_by(OutboxEmail.due_at, OutboxEmail.id)).all()


def test_add_learner_invites_an_address_new_to_the_platform_and_registers_everyone(
        runner, make_user, make_session):
    """Issue 16 line 11: an email new to the platform is invited, not refused."""
    session = upcoming_session(make_session)
    make_user("ann@example.com")
    make_user("gone@example.com", status=UserStatus.deactivated)

    code, out = run(runner, "sessions", "add-learner", str(session.id), "ann@example.com", "New.Person@Example.com",
                    "not-an-address", "gone@example.com", "--json")

    assert code == 2  # done, with items rejected and listed
    newcomer = db.session.scalar(select(User).where(User.email == "new.person@example.com"))
    invitation = db.session.scalar(select(Invitation).where(Invitation.user_id == newcomer.id))
    assert newcomer.status == UserStatus.invited and invitation.status == InvitationStatus.pending
    assert out["session_id"] == session.id
    assert [{key: item[key] for key in ("email", "platform", "invitation_id", "status", "invited")}
            for item in out["learners"]] == [
        {"email": "ann@example.com", "platform": "already_member", "invitation_id": None, "status": "invited",
         "invited": True},
        {"email": "new.person@example.com", "platform": "invited", "invitation_id": invitation.id,
         "status": "invited", "invited": True},
    ]
    assert [(item["email"], item["reason"]) for item in out["rejected"]] == [
        ("not-an-address", "not a valid email address"),
        ("gone@example.com", "this account is deactivated; reactivate it first")]
    # R4: the platform invitation now, the session's at its start
    assert [kind for kind, _ in emails_to("new.person@example.com")] == ["invitation", "session_invitation"]
    assert emails_to("new.person@example.com")[-1].due_at == session.starts_at
    assert emails_to("ann@example.com") == [("session_invitation", session.starts_at)]

    code, roster = run(runner, "sessions", "roster", str(session.id), "--json")
    assert [(row["email"], row["status"], row["sources"]) for row in roster] == [
        ("ann@example.com", "invited", ["direct"]), ("new.person@example.com", "invited", ["direct"])]
    enrollment_ids = {item["email"]: item["enrollment_id"] for item in out["learners"]}
    assert set(enrollment_ids.values()) == {row["enrollment"].id for row in session_roster(session)}


def test_add_learner_does_what_the_session_pages_add_emails_does(runner, admin_client, make_session):
    """The same addresses through the page and through the command end in the same rows."""
    by_page, by_command = upcoming_session(make_session), upcoming_session(make_session)
    admin_client.post(f"/sessions/{by_page.id}/emails",
                      data={"emails-emails": "page@example.com", "emails-send_email": "y"})
    code, _ = run(runner, "sessions", "add-learner", str(by_command.id), "command@example.com", "--json")
    assert code == 0

    def state(session, email):
        db.session.expire_all()
        (row,) = session_roster(session)
        enrollment = row["enrollment"]
        user = enrollment.user
        kinds = sorted(kind for (kind,) in db.session.execute(
            select(OutboxEmail.kind).where(OutboxEmail.user_id == user.id)))
        return (row["email"] == email, user.status.value, user.role.value, enrollment.status.value,
                row["sources"], enrollment.email_due_at == session.starts_at, kinds)

    assert state(by_page, "page@example.com") == state(by_command, "command@example.com") == (
        True, "invited", "learner", "invited", ["direct"], True, ["invitation", "session_invitation"])


def test_add_learner_again_leaves_the_registration_and_its_answer_as_they_were(runner, make_user, make_session):
    session = upcoming_session(make_session)
    make_user("ann@example.com")
    assert run(runner, "sessions", "add-learner", str(session.id), "ann@example.com", "--json")[0] == 0
    (row,) = session_roster(session)
    row["enrollment"].status = EnrollmentStatus.accepted
    db.session.commit()

    code, out = run(runner, "sessions", "add-learner", str(session.id), "ann@example.com", "ann@example.com",
                    "--json")

    assert code == 0
    assert [(item["email"], item["status"], item["invited"]) for item in out["learners"]] == [
        ("ann@example.com", "accepted", False)]
    assert out["repeated"] == ["ann@example.com"] and out["rejected"] == []
    assert emails_to("ann@example.com") == [("session_invitation", session.starts_at)]  # not a second one


def test_add_learner_says_for_each_address_what_happened(runner, make_user, make_session):
    session = upcoming_session(make_session)
    make_user("ann@example.com")

    result = runner.invoke(args=["lms", "sessions", "add-learner", str(session.id), "ann@example.com",
                                 "bob@example.com", "bad@"])

    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        "ann@example.com: has an account; invited to the session",
        "bob@example.com: invited to the platform; invited to the session",
        "bad@: left out (not a valid email address)",
        "2 registered (1 new to the platform, invited first).",
    ]


def test_add_learner_without_email_registers_but_queues_nothing(runner, make_session):
    session = upcoming_session(make_session)

    code, out = run(runner, "sessions", "add-learner", str(session.id), "quiet@example.com", "--no-email", "--json")

    assert code == 0 and out["learners"][0]["platform"] == "invited"
    assert emails_to("quiet@example.com") == []
    (row,) = session_roster(session)
    assert row["enrollment"].email_due_at is None


def test_add_learner_to_an_ended_session_exits_1_and_invites_nobody(runner, make_session):
    ended = datetime.now(timezone.utc) - timedelta(days=2)
    session = make_session(starts_at=ended, ends_at=ended + timedelta(hours=8))

    code, out = run(runner, "sessions", "add-learner", str(session.id), "late@example.com", "--json")

    assert code == 1 and "has ended" in out["error"]
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
