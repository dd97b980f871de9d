"""`lms invite` and `lms run-due` (DESIGN §5): invite from a script, deliver, register."""
import json
import re

from sqlalchemy import func, select

from lms.accounts.models import Role, User, UserStatus
from lms.enrollment.groups.models import GroupMembership
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.extensions import db
from lms.notifications.models import OutboxEmail
from lms.tokens import token_from_nonce
from tests.conftest import user_of

PASSWORD = "my-own-password-123"


def invite(runner, *args):
    return runner.invoke(args=["lms", "invite", *args])


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def invitation_of(email):
    db.session.expire_all()
    return db.session.scalar(select(Invitation).join(User, User.id == Invitation.user_id).where(User.email == email))


def register(app, path, first_name="Jane", last_name="Doe"):
    client = app.test_client()
    response = client.post(path, data={"first_name": first_name, "last_name": last_name,
                                       "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)
    return client


def test_invite_prints_one_json_object_with_the_invited_and_their_invitations(app, runner, make_group):
    group = make_group("G")

    result = invite(runner, "a@example.com", "B@Example.com", "--group", "G", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["invited"] == ["a@example.com", "b@example.com"]
    assert data["already_members"] == data["already_invited"] == data["rejected"] == []
    ids = {item["email"]: item["id"] for item in data["invitations"]}
    assert set(ids) == {"a@example.com", "b@example.com"}
    for email, invitation_id in ids.items():
        invitation = invitation_of(email)
        assert invitation.id == invitation_id
        assert invitation.status == InvitationStatus.pending
        member = db.session.scalar(select(GroupMembership).where(
            GroupMembership.group_id == group.id, GroupMembership.user_id == invitation.user_id))
        assert member is not None
    assert count(OutboxEmail) == 2


def test_invite_then_run_due_delivers_two_emails_whose_links_register(app, runner, make_group, smtp_server):
    make_group("G")
    invited = invite(runner, "a@example.com", "b@example.com", "--group", "G",
                     "--message", "See you soon", "--json")
    assert invited.exit_code == 0, invited.output

    result = runner.invoke(args=["lms", "run-due", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["emails_sent"] == 2
    assert report["emails_failed"] == report["emails_retrying"] == 0
    for number, email in enumerate(["a@example.com", "b@example.com"]):
        (message,) = smtp_server.to(email)
        text = message.get_body(("plain",)).get_content()
        assert "See you soon" in text and "G" in text
        match = re.search(re.escape(app.config["BASE_URL"]) + r"(/invitation/[A-Za-z0-9_-]+)", text)
        assert match, text
        client = register(app, match.group(1), first_name=f"Person{number}")
        assert client.get("/").status_code == 200
        user = user_of(email)
        assert (user.status, user.first_name) == (UserStatus.active, f"Person{number}")
        assert invitation_of(email).status == InvitationStatus.accepted

    again = json.loads(runner.invoke(args=["lms", "run-due", "--json"]).stdout)
    assert again["emails_sent"] == 0
    assert len(smtp_server.messages) == 2


def test_a_bad_address_is_rejected_with_exit_2_and_the_good_ones_still_invited(app, runner):
    result = invite(runner, "good@example.com", "not-an-email", "other@example.com", "--json")

    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)
    assert data["invited"] == ["good@example.com", "other@example.com"]
    assert data["rejected"] == [{"email": "not-an-email", "reason": "not a valid email address"}]
    assert [item["email"] for item in data["invitations"]] == ["good@example.com", "other@example.com"]
    assert invitation_of("good@example.com").status == InvitationStatus.pending
    assert invitation_of("other@example.com").status == InvitationStatus.pending
    assert count(User) == 2


def test_a_deactivated_account_is_rejected_with_exit_2(app, runner, make_user):
    make_user("gone@example.com", status=UserStatus.deactivated)

    result = invite(runner, "gone@example.com", "new@example.com", "--json")

    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["rejected"] == [{"email": "gone@example.com",
                                 "reason": "this account is deactivated; reactivate it first"}]
    assert data["invited"] == ["new@example.com"]


def test_an_existing_member_is_added_to_the_group_not_invited(app, runner, make_user, make_group):
    member = make_user("member@example.com")
    group = make_group("G")

    result = invite(runner, "member@example.com", "--group", group.public_id, "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["invited"], data["already_members"], data["invitations"]) == ([], ["member@example.com"], [])
    assert db.session.scalar(select(GroupMembership).where(
        GroupMembership.group_id == group.id, GroupMembership.user_id == member.id)) is not None
    assert count(Invitation) == 0


def test_an_unknown_group_exits_1_and_writes_nothing(app, runner, make_group):
    make_group("G")

    result = invite(runner, "a@example.com", "b@example.com", "--group", "Nope", "--json")

    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) == {"error"}
    assert "Nope" in data["error"]
    db.session.expire_all()
    assert (count(User), count(Invitation), count(OutboxEmail), count(GroupMembership)) == (0, 0, 0, 0)


def test_an_unknown_language_exits_1_and_writes_nothing(app, runner):
    result = invite(runner, "a@example.com", "--language", "xx", "--json")

    assert result.exit_code == 1
    assert "Unknown language" in json.loads(result.stdout)["error"]
    db.session.expire_all()
    assert (count(User), count(Invitation), count(OutboxEmail)) == (0, 0, 0)


def test_without_email_the_invitations_exist_but_nothing_is_queued(app, runner, smtp_server):
    result = invite(runner, "a@example.com", "b@example.com", "--no-email", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["invited"] == ["a@example.com", "b@example.com"]
    assert count(Invitation) == 2
    assert count(OutboxEmail) == 0
    report = json.loads(runner.invoke(args=["lms", "run-due", "--json"]).stdout)
    assert report["emails_sent"] == 0
    assert smtp_server.messages == []


def test_the_invited_role_applies_on_acceptance(app, runner):
    result = invite(runner, "boss@example.com", "--role", "manager", "--no-email", "--json")
    assert result.exit_code == 0, result.output
    invitation = invitation_of("boss@example.com")
    assert invitation.role == Role.manager

    register(app, f"/invitation/{token_from_nonce(invitation.token_nonce)}")

    user = user_of("boss@example.com")
    assert (user.status, user.role) == (UserStatus.active, Role.manager)
    assert invitation_of("boss@example.com").status == InvitationStatus.accepted


def test_the_human_output_summarises_the_outcome(app, runner):
    result = invite(runner, "a@example.com", "oops")

    assert result.exit_code == 2
    assert "Invited: 1" in result.stdout
    assert "Rejected: 1" in result.stdout
    assert "oops: not a valid email address" in result.stdout
