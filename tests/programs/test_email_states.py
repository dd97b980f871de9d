"""Pages tell what became of each email from the outbox (issue 16, lines 5 and 10): no "sent" for
an email that never went, no "due" in the past, and a trainer can send a waiting email now."""
import re
from datetime import timedelta

from sqlalchemy import select

from lms.clock import utcnow
from lms.enrollment.invitations.models import Invitation
from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.notifications.dispatcher import dispatch_due_emails
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.programs.cascade import enroll
from lms.programs.models import Enrollment
from tests.conftest import htmx_headers, login
from tests.pages import flashes, text, visible
from tests.programs.test_manage_views import row_of, shown


def invitation_row(client, email):
    rows = [visible(row) for row in re.findall(r'<tr id="invitation-\d+">(.*?)</tr>', text(client.get("/admin/invitations")), re.S)]
    (row,) = [row for row in rows if email in row]
    return row


def test_an_invitation_without_email_has_no_sent_time_and_says_no_email(admin_client):
    invite_people(["quiet@example.com"], actor=None, now=utcnow(), send_email=False)
    db.session.commit()

    (invitation,) = db.session.scalars(select(Invitation)).all()
    assert invitation.sent_at is None
    assert "no email" in invitation_row(admin_client, "quiet@example.com")


def test_the_invitations_list_shows_an_email_held_for_want_of_a_mail_server_as_not_sent(admin_client):
    invite_people(["held@example.com"], actor=None, now=utcnow())
    db.session.commit()
    dispatch_due_emails(now=utcnow())  # no MAIL_SERVER: the email is held

    row = invitation_row(admin_client, "held@example.com")
    assert "held not sent: no mail server (set MAIL_SERVER)" in row


def test_the_invitations_list_shows_the_time_an_email_really_went(admin_client, smtp_server):
    invite_people(["ann@example.com"], actor=None, now=utcnow())
    db.session.commit()
    assert "being sent" in invitation_row(admin_client, "ann@example.com")

    report = dispatch_due_emails(now=utcnow())

    assert report.sent == 1
    sent_at = db.session.scalar(select(OutboxEmail.sent_at))
    assert f"sent {shown(sent_at)}" in invitation_row(admin_client, "ann@example.com")


def test_a_session_email_held_past_its_due_time_is_not_shown_as_due(app, client, make_user, make_session):
    trainer = make_user("trainer@example.com", role="manager")
    session = make_session(starts_at=utcnow() - timedelta(hours=1), ends_at=utcnow() + timedelta(days=1),
                           trainer=trainer)
    learner = make_user("ann@example.com")
    enroll(session, [learner.id], now=utcnow() - timedelta(days=2), direct=True)  # due at the start: past
    db.session.commit()
    login(client, trainer)

    row = row_of(text(client.get(f"/sessions/{session.id}")), "ann@example.com")

    assert "due " not in row
    assert "held not sent: no mail server (set MAIL_SERVER)" in row


def test_a_failed_session_email_says_why(app, client, smtp_server, make_user, make_session):
    trainer = make_user("trainer@example.com", role="manager")
    session = make_session(starts_at=utcnow() - timedelta(hours=1), trainer=trainer)
    learner = make_user("refused@example.com")
    enroll(session, [learner.id], now=utcnow(), direct=True)
    db.session.commit()
    smtp_server.refuse("refused@example.com")
    dispatch_due_emails(now=utcnow())
    login(client, trainer)

    row = row_of(text(client.get(f"/sessions/{session.id}")), "refused@example.com")

    assert re.search(r"not sent 55\d ", row), row
    assert "Send now" in row  # once more, after fixing the address or the server


def test_a_learner_added_with_email_off_shows_why_and_the_trainer_can_send_it_now(
        app, client, smtp_server, make_user, make_session):
    trainer = make_user("trainer@example.com", role="manager")
    session = make_session(starts_at=utcnow() + timedelta(days=10), trainer=trainer)
    learner = make_user("quiet@example.com")
    enroll(session, [learner.id], now=utcnow(), direct=True, send_email=False)  # a roster's send_email=0
    db.session.commit()
    login(client, trainer)
    assert db.session.scalars(select(OutboxEmail)).all() == []  # nothing queued

    row = row_of(text(client.get(f"/sessions/{session.id}")), "quiet@example.com")
    assert "not emailed (added with “send the invitation emails” off)" in row
    assert "Send now" in row

    enrollment_id = db.session.scalar(select(Enrollment.id))
    response = client.post(f"/sessions/{session.id}/emails/send-now", data={"enrollment_id": enrollment_id},
                           headers=htmx_headers("registration"))
    assert response.status_code == 200
    assert "1 invitation email will go out now." in flashes(text(response))
    report = dispatch_due_emails(now=utcnow())
    assert report.sent == 1
    assert [m["To"] for m in smtp_server.messages] == ["quiet@example.com"]
    assert "sent " in row_of(text(client.get(f"/sessions/{session.id}")), "quiet@example.com")


def test_a_trainer_sends_now_an_email_waiting_for_the_session_start(app, client, smtp_server, make_user, make_session):
    trainer = make_user("trainer@example.com", role="manager")
    session = make_session(starts_at=utcnow() + timedelta(days=14), trainer=trainer)
    ann, bob = make_user("ann@example.com"), make_user("bob@example.com")
    enroll(session, [ann.id, bob.id], now=utcnow(), direct=True)
    db.session.commit()
    login(client, trainer)
    assert f"due {shown(session.starts_at)}" in row_of(text(client.get(f"/sessions/{session.id}")), "ann@example.com")

    response = client.post(f"/sessions/{session.id}/emails/send-now")  # every waiting one

    assert response.status_code == 303
    assert dispatch_due_emails(now=utcnow()).sent == 2
    assert sorted(m["To"] for m in smtp_server.messages) == ["ann@example.com", "bob@example.com"]
    # Sent is sent: a second click sends nothing again.
    client.post(f"/sessions/{session.id}/emails/send-now")
    assert dispatch_due_emails(now=utcnow()).sent == 0


def test_another_trainer_cannot_send_a_sessions_emails(app, client, make_user, make_session):
    owner = make_user("trainer@example.com", role="manager")
    other = make_user("other@example.com", role="manager")
    session = make_session(starts_at=utcnow() + timedelta(days=14), trainer=owner)
    enroll(session, [make_user("ann@example.com").id], now=utcnow(), direct=True)
    db.session.commit()
    login(client, other)

    response = client.post(f"/sessions/{session.id}/emails/send-now")

    assert response.status_code == 403
    assert db.session.scalar(select(OutboxEmail.due_at)) == session.starts_at
    assert db.session.scalar(select(OutboxEmail.status)) == OutboxStatus.queued
