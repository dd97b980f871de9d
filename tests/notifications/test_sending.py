"""What arrives at the SMTP server when many emails go out at once: the MIME written by
lms.notifications.mime, each recipient's own link when a batch renders one email for many
(render_email's merge), and the MAIL_CONNECTIONS cap of the SMTP pool."""
import re
from datetime import timedelta

from sqlalchemy import select

from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.notifications.dispatcher import dispatch_due_emails
from lms.notifications.mime import multipart_alternative
from lms.programs.cascade import assign_group
from lms.programs.models import Enrollment, EnrollmentStatus


def text_of(message):
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html_of(message):
    return message.get_body(("html",)).get_content().replace("\r\n", "\n")


def session_link(app, body):
    links = set(re.findall(re.escape(app.config["BASE_URL"]) + r"(/session-invitation/[A-Za-z0-9_-]+)", body))
    assert len(links) == 1, body
    return links.pop()


def test_accents_long_lines_leading_dots_and_equals_signs_arrive_exactly_as_written(app, smtp_server, now):
    message = ("Réunion à 9 h : café = offert.\n"
               ".Une ligne qui commence par un point\n"
               + "très longue ligne " * 30 + "\n"
               "Fin — à bientôt !")
    invite_people(["élodie.martin@example.com"], actor=None, now=now, message=message, language="fr")
    db.session.commit()

    report = dispatch_due_emails(now=now)

    assert report.sent == 1, report.errors
    (received,) = smtp_server.messages
    assert received["To"] == "élodie.martin@example.com"
    assert received["Subject"] == "Vous êtes invité(e) sur LMS"
    assert message in text_of(received)
    assert "Réunion à 9 h : café = offert." in html_of(received)
    assert all(len(line) <= 998 for line in received.as_string().splitlines())


def test_a_server_without_smtputf8_fails_an_accented_address_at_once_and_says_why(app, smtp_server, now):
    smtp_server.stop()
    smtp_server.smtputf8 = False
    smtp_server.start()
    invite_people(["élodie@example.com", "ann@example.com"], actor=None, now=now)
    db.session.commit()

    report = dispatch_due_emails(now=now)

    assert report.sent == 1 and report.failed == 1
    assert [message["To"] for message in smtp_server.messages] == ["ann@example.com"]
    (error,) = report.errors
    assert error.startswith("élodie@example.com: the mail server cannot deliver to this address")
    assert "SMTPUTF8" in error


def test_a_line_break_in_a_title_cannot_add_a_header():
    data = multipart_alternative(sender="LMS <no-reply@localhost>", recipient="ann@example.com",
                                 subject="Kick-off\r\nBcc: spy@example.com", text="Hello", html="<p>Hello</p>",
                                 message_id="<outbox-1@localhost>", timestamp=0)

    import email
    import email.policy

    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "Kick-off Bcc: spy@example.com"
    assert text_of(parsed).strip() == "Hello" and html_of(parsed).strip() == "<p>Hello</p>"


def test_learners_of_one_session_each_get_their_own_working_link_in_their_language(
        app, client, smtp_server, make_user, make_group, make_session, now):
    learners = [make_user(f"fr{n}@example.com", language="fr") for n in range(3)]
    learners += [make_user(f"nl{n}@example.com", language="nl") for n in range(2)]
    session = make_session(starts_at=now + timedelta(days=1), name="Atelier")
    assign_group(session, make_group("Cohort", members=learners), actor=None, now=now)
    db.session.commit()

    assert dispatch_due_emails(now=session.starts_at).sent == 5

    links = {}
    for learner in learners:
        (received,) = smtp_server.to(learner.email)
        links[learner.email] = session_link(app, text_of(received))
        assert session_link(app, html_of(received)) == links[learner.email]
        greeting = ("Vous êtes invité(e) à une session de formation" if learner.language == "fr"
                    else "Je bent uitgenodigd voor een opleidingssessie")
        assert greeting in text_of(received), text_of(received)
    assert len(set(links.values())) == 5

    response = client.post(links["nl1@example.com"], data={"answer": "accept"}, follow_redirects=True)
    assert response.status_code == 200
    db.session.expire_all()
    statuses = dict(db.session.execute(select(Enrollment.user_id, Enrollment.status)).all())
    assert statuses == {learner.id: (EnrollmentStatus.accepted if learner.email == "nl1@example.com"
                                     else EnrollmentStatus.invited) for learner in learners}


def test_mail_connections_caps_the_connections_the_dispatcher_opens(app, monkeypatch, smtp_server, now):
    invite_people([f"person{n}@example.com" for n in range(30)], actor=None, now=now)
    db.session.commit()

    monkeypatch.setitem(app.config, "MAIL_CONNECTIONS", 1)
    assert dispatch_due_emails(now=now).sent == 30

    assert len(smtp_server.messages) == 30
    assert len(smtp_server.handler.peers) == 1


def test_several_connections_share_a_batch_and_every_email_arrives_once(app, monkeypatch, smtp_server, now):
    invite_people([f"person{n}@example.com" for n in range(60)], actor=None, now=now)
    db.session.commit()

    monkeypatch.setitem(app.config, "MAIL_CONNECTIONS", 3)
    assert dispatch_due_emails(now=now).sent == 60

    assert sorted(message["To"] for message in smtp_server.messages) == sorted(
        f"person{n}@example.com" for n in range(60))
    assert 1 <= len(smtp_server.handler.peers) <= 3
