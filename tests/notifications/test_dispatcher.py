"""The outbox dispatcher over real SMTP (an aiosmtpd server on loopback): R10, and the emails
an invitee reads, in their language, with a link that registers them (R8)."""
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from lms.accounts.models import User, UserStatus
from lms.clock import utcnow
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import invite_people, set_account
from lms.extensions import db
from lms.notifications.dispatcher import NO_MAIL_SERVER, claim_due_emails, dispatch_due_emails
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.notifications.sealed import SEALED_PASSWORD
from tests.conftest import Clock, ended_process_id, user_of, worker_at

PASSWORD = "my-own-password-123"


def invite(emails, *, now, actor=None, **options):
    outcome = invite_people(list(emails), actor=actor, now=now, **options)
    db.session.commit()
    return outcome


def outbox(*conditions):
    db.session.expire_all()
    return db.session.scalars(select(OutboxEmail).where(*conditions).order_by(OutboxEmail.id)).all()


def row_to(recipient):
    (row,) = outbox(OutboxEmail.recipient == recipient)
    return row


def text_of(message):
    return message.get_body(("plain",)).get_content()


def html_of(message):
    return message.get_body(("html",)).get_content()


def invitation_link(app, body):
    match = re.search(re.escape(app.config["BASE_URL"]) + r"/invitation/[A-Za-z0-9_-]+", body)
    assert match, body
    return match.group(0)


def path_of(app, link):
    assert link.startswith(app.config["BASE_URL"] + "/")
    return link[len(app.config["BASE_URL"]):]


def register_through(app, client, link, first_name="Jane", last_name="Doe"):
    path = path_of(app, link)
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    response = client.post(path, data={"first_name": first_name, "last_name": last_name,
                                       "password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


# --- what the invitee receives -------------------------------------------------------------


def test_an_invitation_arrives_in_text_and_html_and_its_link_registers(app, admin, make_group, smtp_server):
    sent_at = utcnow()  # the registration page checks expiry against the real clock
    sales, paris = make_group("Sales North"), make_group("Paris Office")
    invite(["new.person@example.com"], actor=admin, now=sent_at, group_ids=[sales.id, paris.id],
           message="Welcome aboard, see you Monday!")

    report = dispatch_due_emails(now=sent_at)

    assert report.sent == 1
    (message,) = smtp_server.to("new.person@example.com")
    assert message["Subject"] == "Ada Admin invited you to LMS"
    assert message["To"] == "new.person@example.com"
    text, html = text_of(message), html_of(message)
    for body in (text, html):
        assert "Ada Admin invites you to join LMS." in body
        assert "Welcome aboard, see you Monday!" in body
        assert "Sales North" in body and "Paris Office" in body
    link = invitation_link(app, text)
    assert f'href="{link}"' in html
    assert link.startswith(app.config["BASE_URL"] + "/invitation/")

    client = app.test_client()
    page = client.get(path_of(app, link))
    assert "new.person@example.com" in page.get_data(as_text=True)
    response = register_through(app, client, link, first_name="New", last_name="Person")
    assert response.headers["Location"] == "/"

    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == "new.person@example.com"))
    (invitation,) = db.session.scalars(select(Invitation).where(Invitation.user_id == user.id)).all()
    assert invitation.status == InvitationStatus.accepted
    assert (user.status, user.first_name, user.last_name) == (UserStatus.active, "New", "Person")
    assert client.get("/").status_code == 200  # signed in
    used = app.test_client().get(path_of(app, link))
    assert used.status_code == 410
    assert "already been used" in used.get_data(as_text=True)


def test_an_invitation_without_inviter_or_message_still_reads_well(app, smtp_server, now):
    invite(["new@example.com"], now=now)

    dispatch_due_emails(now=now)

    (message,) = smtp_server.messages
    assert message["Subject"] == "You are invited to LMS"
    assert "You are invited to join LMS." in text_of(message)
    assert "None" not in text_of(message)
    assert "This invitation expires on April 1, 2026." in text_of(message)


@pytest.mark.parametrize("language, subject, phrases", [
    ("fr", "Ada Admin vous invite sur LMS",
     ["Ada Admin vous invite à rejoindre LMS.", "Vous rejoindrez ces groupes :", "Accepter l'invitation",
      "1 avril 2026"]),
    ("nl", "Ada Admin nodigt je uit op LMS",
     ["Ada Admin nodigt je uit om lid te worden van LMS.", "Je wordt lid van deze groepen:",
      "Uitnodiging aanvaarden", "1 april 2026"]),
])
def test_invitations_speak_the_language_of_the_invitee(app, admin, make_group, smtp_server, now,
                                                        language, subject, phrases):
    group = make_group("Équipe Nord")
    invite(["new@example.com"], actor=admin, now=now, language=language, group_ids=[group.id])

    dispatch_due_emails(now=now)

    (message,) = smtp_server.messages
    assert message["Subject"] == subject
    text, html = text_of(message), html_of(message)
    for phrase in phrases:
        assert phrase in text
    assert "Équipe Nord" in text and "Équipe Nord" in html
    assert f'<html lang="{language}">' in html
    assert "Accept the invitation" not in text and "You will join" not in text


def test_the_message_id_is_stable_per_row(app, smtp_server, now):
    invite(["ann@example.com", "bob@example.com"], now=now)

    dispatch_due_emails(now=now)

    for address in ("ann@example.com", "bob@example.com"):
        row = row_to(address)
        (message,) = smtp_server.to(address)
        assert message["Message-ID"] == f"<outbox-{row.id}@127.0.0.1>"


def test_a_sent_email_is_marked_sent_and_not_sent_again(app, smtp_server, now):
    invite(["ann@example.com"], now=now)

    assert dispatch_due_emails(now=now).sent == 1
    assert dispatch_due_emails(now=now + timedelta(hours=1)).sent == 0

    row = row_to("ann@example.com")
    assert (row.status, row.sent_at, row.attempts, row.last_error) == (OutboxStatus.sent, now, 1, None)
    assert len(smtp_server.messages) == 1


def test_an_email_due_later_waits_for_its_time(app, smtp_server, make_user, now):
    from lms.notifications.outbox import queue_email

    user = make_user("ann@example.com")
    queue_email(now=now, recipient=user.email, user_id=user.id, kind="added_to_groups", language="en",
                context={"group_names": ["Sales"], "inviter_name": None}, dedupe_key="later",
                due_at=now + timedelta(days=1))
    db.session.commit()

    assert dispatch_due_emails(now=now + timedelta(hours=23)).sent == 0
    assert dispatch_due_emails(now=now + timedelta(days=1)).sent == 1
    (message,) = smtp_server.messages
    assert message["Subject"] == "You have been added to Sales"


# --- no mail server ------------------------------------------------------------------------


def test_without_a_mail_server_nothing_is_sent_and_the_emails_wait_in_the_outbox(app, now):
    assert not app.config.get("MAIL_SERVER")
    invite(["ann@example.com", "bob@example.com"], now=now)

    report = dispatch_due_emails(now=now)

    assert (report.sent, report.held) == (0, 2)
    for row in outbox():
        assert row.status == OutboxStatus.queued
        assert row.attempts == 0
        assert row.last_error == NO_MAIL_SERVER
        assert row.last_error.startswith("not sent: no mail server")


def test_emails_held_for_lack_of_a_mail_server_go_once_one_is_configured(app, monkeypatch, smtp_server, now):
    invite(["ann@example.com"], now=now)
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)

    dispatch_due_emails(now=now)
    dispatch_due_emails(now=now + timedelta(minutes=1))
    assert smtp_server.messages == []
    assert row_to("ann@example.com").status == OutboxStatus.queued

    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    assert dispatch_due_emails(now=now + timedelta(minutes=2)).sent == 1

    assert len(smtp_server.to("ann@example.com")) == 1
    row = row_to("ann@example.com")
    assert (row.status, row.last_error) == (OutboxStatus.sent, None)


# --- SMTP failures -------------------------------------------------------------------------


def test_smtp_server_down_then_up_loses_nothing_and_sends_nothing_twice(app, smtp_server, now):
    emails = ["ann@example.com", "bob@example.com", "cid@example.com"]
    invite(emails, now=now)
    smtp_server.stop()

    report = dispatch_due_emails(now=now)

    assert (report.sent, report.retrying, report.failed) == (0, 3, 0)
    for row in outbox():
        assert row.status == OutboxStatus.queued
        assert row.attempts == 1
        assert row.next_attempt_at == now + timedelta(minutes=1)
        assert row.last_error.startswith("SMTP server unavailable")

    smtp_server.start()
    assert dispatch_due_emails(now=now + timedelta(seconds=59)).sent == 0
    assert smtp_server.messages == []

    assert dispatch_due_emails(now=now + timedelta(minutes=1)).sent == 3
    assert dispatch_due_emails(now=now + timedelta(minutes=2)).sent == 0
    assert dispatch_due_emails(now=now + timedelta(hours=2)).sent == 0

    assert Counter(message["To"] for message in smtp_server.messages) == {email: 1 for email in emails}
    for row in outbox():
        assert (row.status, row.attempts, row.last_error) == (OutboxStatus.sent, 2, None)
        assert row.sent_at == now + timedelta(minutes=1)


def test_a_refused_recipient_fails_alone_with_the_smtp_answer(app, smtp_server, now):
    invite(["ann@example.com", "refused@example.com", "bob@example.com"], now=now)
    smtp_server.refuse("refused@example.com")

    report = dispatch_due_emails(now=now)

    assert (report.sent, report.failed) == (2, 1)
    refused = row_to("refused@example.com")
    assert refused.status == OutboxStatus.failed
    assert refused.last_error.startswith("550")
    assert "Mailbox unavailable" in refused.last_error
    assert [row.status for row in outbox(OutboxEmail.recipient != "refused@example.com")] == [
        OutboxStatus.sent, OutboxStatus.sent]
    assert sorted(message["To"] for message in smtp_server.messages) == ["ann@example.com", "bob@example.com"]

    assert dispatch_due_emails(now=now + timedelta(hours=1)).sent == 0
    assert row_to("refused@example.com").status == OutboxStatus.failed


def test_retries_back_off_1_5_30_minutes_then_the_email_fails(app, smtp_server, now):
    invite(["ann@example.com"], now=now)
    smtp_server.stop()

    attempt_at = now
    for attempts, wait in ((1, timedelta(minutes=1)), (2, timedelta(minutes=5)), (3, timedelta(minutes=30))):
        assert dispatch_due_emails(now=attempt_at).retrying == 1
        row = row_to("ann@example.com")
        assert (row.status, row.attempts) == (OutboxStatus.queued, attempts)
        assert row.next_attempt_at == attempt_at + wait
        assert dispatch_due_emails(now=attempt_at + wait - timedelta(seconds=1)).retrying == 0
        attempt_at += wait

    report = dispatch_due_emails(now=attempt_at)

    assert report.failed == 1
    row = row_to("ann@example.com")
    assert (row.status, row.attempts) == (OutboxStatus.failed, 4)
    assert row.last_error.startswith("SMTP server unavailable")
    smtp_server.start()
    assert dispatch_due_emails(now=attempt_at + timedelta(days=1)).sent == 0
    assert smtp_server.messages == []


def test_emails_claimed_by_a_worker_that_stopped_beating_go_out_once_it_counts_as_gone(app, smtp_server, now):
    invite(["ann@example.com", "bob@example.com"], now=now)
    clock = Clock()
    frozen = worker_at(clock)
    assert len(claim_due_emails(now=now, worker=frozen)) == 2  # ...and it never beats again
    other = worker_at(clock)

    clock.advance(seconds=29)
    assert dispatch_due_emails(now=now, worker=other).sent == 0
    assert smtp_server.messages == []

    clock.advance(seconds=2)  # 31 s without a heartbeat: LMS_WORKER_TIMEOUT_SECONDS is 30
    assert dispatch_due_emails(now=now, worker=other).sent == 2
    assert sorted(message["To"] for message in smtp_server.messages) == ["ann@example.com", "bob@example.com"]


def test_a_worker_that_beats_keeps_its_emails_however_long_it_works(app, smtp_server, now):
    invite(["ann@example.com"], now=now)
    clock = Clock()
    busy = worker_at(clock)
    claim_due_emails(now=now, worker=busy)
    other = worker_at(clock)
    for _ in range(10):  # five minutes of heartbeats
        clock.advance(seconds=30)
        busy.beat()
        assert dispatch_due_emails(now=now, worker=other).sent == 0
    assert smtp_server.messages == []


def test_emails_of_a_worker_whose_process_ended_go_to_the_next_worker_at_once(app, smtp_server, now):
    invite(["ann@example.com", "bob@example.com"], now=now)
    killed = worker_at(Clock(), pid=ended_process_id())
    claim_due_emails(now=now, worker=killed)

    assert dispatch_due_emails(now=now).sent == 2  # no wait: that process no longer exists
    assert len(smtp_server.messages) == 2


def test_a_worker_that_lost_its_lease_records_nothing_over_the_new_owner(app, smtp_server, now):
    from lms.notifications.recording import OutcomeRecorder

    invite(["ann@example.com"], now=now)
    clock = Clock()
    frozen = worker_at(clock)
    (email_id,) = claim_due_emails(now=now, worker=frozen)
    clock.advance(seconds=31)
    new_owner = worker_at(clock)
    assert claim_due_emails(now=now, worker=new_owner) == [email_id]

    recorder = OutcomeRecorder(db.engine, worker_id=frozen.id, now=now)
    recorder.record(db.session.get(OutboxEmail, email_id), None)  # "sent", says the frozen worker
    recorder.flush()
    recorder.close()
    (row,) = outbox()
    assert (row.status, row.locked_by) == (OutboxStatus.queued, new_owner.id)


def test_an_email_that_cannot_be_rendered_fails_without_holding_up_the_others(app, smtp_server, make_user, now):
    from lms.notifications.outbox import queue_emails

    user = make_user("ann@example.com")
    queue_emails([
        {"recipient": user.email, "user_id": user.id, "kind": "no_such_kind", "language": "en",
         "context": {}, "dedupe_key": "broken"},
        {"recipient": user.email, "user_id": user.id, "kind": "added_to_groups", "language": "en",
         "context": {"group_names": ["Sales"], "inviter_name": None}, "dedupe_key": "fine"},
    ], now=now)
    db.session.commit()

    report = dispatch_due_emails(now=now)

    assert (report.sent, report.failed) == (1, 1)
    broken, fine = outbox()
    assert broken.status == OutboxStatus.failed
    assert broken.last_error.startswith("could not render")
    assert fine.status == OutboxStatus.sent
    assert [message["Subject"] for message in smtp_server.messages] == ["You have been added to Sales"]


# --- secrets -------------------------------------------------------------------------------


def raw_outbox_row(recipient):
    """The outbox row as the database holds it, read with SQL (what a copy of the database shows)."""
    return db.session.execute(text("SELECT * FROM outbox_emails WHERE recipient = :r"), {"r": recipient}).one()


def test_a_queued_password_is_sealed_and_a_sent_one_is_gone(app, admin, smtp_server, now):
    set_account("new@example.com", actor=admin, now=now, first_name="New", last_name="Person",
                password="chosen-by-admin", include_password=True)
    db.session.commit()
    queued = raw_outbox_row("new@example.com")
    assert "chosen-by-admin" not in repr(tuple(queued))  # waiting, it is sealed...
    assert SEALED_PASSWORD in row_to("new@example.com").context

    assert dispatch_due_emails(now=now).sent == 1

    (message,) = smtp_server.to("new@example.com")
    assert "chosen-by-admin" in text_of(message)  # ...the person gets it...
    row = row_to("new@example.com")
    assert row.status == OutboxStatus.sent
    assert SEALED_PASSWORD not in row.context and "password" not in row.context  # ...then the row forgets it
    assert "chosen-by-admin" not in repr(tuple(raw_outbox_row("new@example.com")))


def test_a_password_sealed_under_another_secret_key_fails_naming_why(app, smtp_server, now):
    set_account("new@example.com", actor=None, now=now, first_name="New", last_name="Person",
                password="chosen-by-admin", include_password=True)
    db.session.commit()
    app.config["SECRET_KEY"] = "rotated-" + app.config["SECRET_KEY"]

    assert dispatch_due_emails(now=now).failed == 1

    assert smtp_server.to("new@example.com") == []
    row = row_to("new@example.com")
    assert row.status == OutboxStatus.failed
    assert "SECRET_KEY changed" in row.last_error
    assert SEALED_PASSWORD not in row.context


def test_a_failed_account_email_no_longer_holds_the_password(app, smtp_server, now):
    set_account("new@example.com", actor=None, now=now, first_name="New", last_name="Person",
                password="chosen-by-admin", include_password=True)
    db.session.commit()
    smtp_server.refuse("new@example.com")

    dispatch_due_emails(now=now)

    row = row_to("new@example.com")
    assert row.status == OutboxStatus.failed
    assert SEALED_PASSWORD not in row.context


def test_a_crash_right_after_the_servers_250_repeats_only_the_emails_in_flight(app, smtp_server, monkeypatch, now):
    from lms.notifications import dispatcher
    from lms.notifications.recording import OutcomeRecorder, RecordingFailed

    emails = [f"person{number}@example.com" for number in range(40)]
    invite(emails, now=now)
    mark_sent, release = OutcomeRecorder._mark_sent, dispatcher._release

    def crash_on_the_fourth_write(self, email_ids):
        crash_on_the_fourth_write.calls += 1
        if crash_on_the_fourth_write.calls == 4:  # the server has said 250 for these
            raise RuntimeError("the process is killed here")
        return mark_sent(self, email_ids)

    crash_on_the_fourth_write.calls = 0
    monkeypatch.setattr(OutcomeRecorder, "_mark_sent", crash_on_the_fourth_write)
    monkeypatch.setattr(dispatcher, "_release", lambda worker: None)  # kill -9 frees nothing
    clock = Clock()
    with pytest.raises(RecordingFailed):
        dispatch_due_emails(now=now, worker=worker_at(clock))
    db.session.rollback()
    monkeypatch.setattr(OutcomeRecorder, "_mark_sent", mark_sent)
    monkeypatch.setattr(dispatcher, "_release", release)
    recorded_before_the_crash = len(outbox(OutboxEmail.status == OutboxStatus.sent))
    assert recorded_before_the_crash >= 3
    assert len(smtp_server.messages) > recorded_before_the_crash

    clock.advance(seconds=31)  # the dead worker's heartbeat is 31 s old
    assert dispatch_due_emails(now=now, worker=worker_at(clock)).sent == 40 - recorded_before_the_crash

    received = Counter(message["To"] for message in smtp_server.messages)
    assert set(received) == set(emails)
    sent_twice = [email for email, count in received.items() if count == 2]
    assert 1 <= len(sent_twice) <= app.config["MAIL_CONNECTIONS"]
    assert max(received.values()) == 2
    for email in sent_twice:  # a receiving server can drop the repeat
        assert len({message["Message-ID"] for message in smtp_server.messages if message["To"] == email}) == 1
    assert {row.status for row in outbox()} == {OutboxStatus.sent}


# --- volume and concurrency (R10) ----------------------------------------------------------


def test_300_queued_emails_go_out_in_batches_and_all_arrive(app, smtp_server, now):
    emails = [f"person{number}@example.com" for number in range(300)]
    invite(emails, now=now)

    first = dispatch_due_emails(now=now, batch_size=100, max_batches=1)

    assert first.sent == 100
    assert len(smtp_server.messages) == 100
    assert len(outbox(OutboxEmail.status == OutboxStatus.queued)) == 200

    rest = dispatch_due_emails(now=now, batch_size=100)

    assert rest.sent == 200
    assert Counter(message["To"] for message in smtp_server.messages) == {email: 1 for email in emails}
    assert {row.status for row in outbox()} == {OutboxStatus.sent}


def test_two_dispatchers_on_postgresql_send_each_email_once(app, backend, smtp_server, now):
    if backend != "postgresql":
        pytest.skip("FOR UPDATE SKIP LOCKED: concurrent dispatchers need PostgreSQL")
    emails = [f"person{number}@example.com" for number in range(200)]
    invite(emails, now=now)
    db.session.remove()
    start = threading.Barrier(2)

    def dispatcher():
        with app.app_context():  # a worker of its own: own session, own connection
            start.wait(timeout=30)
            return dispatch_due_emails(now=now, batch_size=10)

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = [future.result(timeout=120) for future in [pool.submit(dispatcher) for _ in range(2)]]

    assert sum(report.sent for report in reports) == 200
    assert all(report.failed == report.retrying == 0 for report in reports)
    assert Counter(message["To"] for message in smtp_server.messages) == {email: 1 for email in emails}
    rows = outbox()
    assert {row.status for row in rows} == {OutboxStatus.sent}
    assert {row.attempts for row in rows} == {1}


def test_an_invitation_lists_the_sessions_with_their_dates(app, smtp_server, admin, make_group, make_session, now):
    from lms.programs.cascade import assign_group

    group = make_group("Cohort 7")
    session = make_session(starts_at=now + timedelta(days=10), name="Spring intake")
    assign_group(session, group, actor=admin, now=now)
    invite_people(["zoe@example.com"], actor=admin, now=now, group_ids=[group.id])
    db.session.commit()

    dispatch_due_emails(now=now)

    (message,) = smtp_server.to("zoe@example.com")
    body = message.get_body(("plain",)).get_content()
    assert "You are invited to these training sessions:" in body
    # written as the session invitation email writes dates
    assert f"{session.program.title} — Spring intake: 12 March 2026, 10:00 Coordinated Universal Time" in body


def test_a_server_that_never_answers_times_out_each_email_and_run_due_does_the_rest(
        app, hanging_smtp_server, make_user, monkeypatch, now):
    from lms.due_work import run_due

    monkeypatch.setitem(app.config, "MAIL_TIMEOUT", 0.5)
    emails = [f"person{number}@example.com" for number in range(12)]
    invite(emails, now=now)
    leaving = make_user("leaving@example.com", deactivate_on=now.date())

    counts = run_due(now=now)  # returns: every connection and command times out

    assert counts["deactivated_users"] == 1 and user_of(leaving.email).status == UserStatus.deactivated
    assert (counts["emails_sent"], counts["emails_retrying"]) == (0, 12)
    rows = outbox(OutboxEmail.recipient.in_(emails))
    assert {row.last_error for row in rows} == {"SMTP server did not answer within 0.5 s"}
    assert {(row.status, row.attempts, row.next_attempt_at, row.locked_by) for row in rows} == {
        (OutboxStatus.queued, 1, now + timedelta(minutes=1), None)}
    assert len(hanging_smtp_server.connections) <= app.config["MAIL_CONNECTIONS"]


def test_an_unreachable_server_stops_the_run_after_one_batch(app, hanging_smtp_server, monkeypatch, now):
    """Later batches would only wait out the same timeout again: they wait for the next run."""
    monkeypatch.setitem(app.config, "MAIL_TIMEOUT", 0.3)
    invite([f"person{number}@example.com" for number in range(30)], now=now)

    report = dispatch_due_emails(now=now, batch_size=10)

    assert (report.retrying, report.server_unreachable) == (10, True)
    untried = outbox(OutboxEmail.attempts == 0)
    assert len(untried) == 20 and {row.locked_by for row in untried} == {None}
