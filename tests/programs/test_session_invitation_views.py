"""The link in a session invitation email: /session-invitation/<token> (R4, the learner's side).

Views use the real clock, so sessions are placed relative to it.
"""
import re
from datetime import timedelta, timezone
from html import unescape

import pytest
from babel.dates import format_datetime
from sqlalchemy import select

from lms.accounts.models import User, UserStatus
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.programs.cascade import add_learner, assign_group, remove_learner
from lms.programs.models import Enrollment, EnrollmentStatus
from lms.tokens import token_from_nonce
from tests.pages import flashes, text, utcnow, visible


def fresh(enrollment_id):
    db.session.expire_all()
    return db.session.get(Enrollment, enrollment_id)


def link(enrollment):
    return f"/session-invitation/{token_from_nonce(enrollment.token_nonce)}"


def long_date(moment, language):
    """Day, month name, year and minutes, as the page shows them (in the platform time zone, UTC here)."""
    return format_datetime(moment, "d MMMM y, HH:mm", tzinfo=timezone.utc, locale=language)


@pytest.fixture
def invited(make_user, make_session):
    """A French-speaking learner invited directly to a session starting in five days."""
    learner = make_user("camille@example.com", language="fr", first_name="Camille")
    starts = utcnow().replace(microsecond=0) + timedelta(days=5)
    session = make_session(starts_at=starts, ends_at=starts + timedelta(days=2), name="Atelier printemps")
    add_learner(session, learner, actor=None, now=utcnow())
    db.session.commit()
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.user_id == learner.id))
    return enrollment


def test_the_page_shows_the_program_session_and_dates_in_the_learners_language(client, invited):
    session = invited.session
    response = client.get(link(invited))

    assert response.status_code == 200
    page = visible(text(response))
    assert session.program.title in page and "Atelier printemps" in page
    assert long_date(session.starts_at, "fr") in page and long_date(session.ends_at, "fr") in page
    assert "Accepter" in page and "Refuser" in page


def test_opening_the_link_changes_nothing(client, invited):
    client.get(link(invited))
    client.get(link(invited))

    enrollment = fresh(invited.id)
    assert enrollment.status == EnrollmentStatus.invited and enrollment.responded_at is None


def test_accepting_from_the_link_records_it_and_says_so(client, invited):
    answered = client.post(link(invited), data={"answer": "accept"})
    response = client.get(answered.location)

    assert answered.status_code == 303 and answered.location == link(invited)  # a reload sends nothing again
    assert response.status_code == 200
    assert "Vous avez accepté cette session" in visible(text(response))
    assert fresh(invited.id).status == EnrollmentStatus.accepted
    assert "Vous avez accepté cette session" in visible(text(client.get(link(invited))))


def test_declining_from_the_link_asks_first_then_records_it_and_says_so(client, invited):
    asked = client.post(link(invited), data={"answer": "decline"})

    assert asked.status_code == 200
    assert "Refuser cette session ?" in visible(text(asked))
    assert fresh(invited.id).status == EnrollmentStatus.invited  # nothing yet

    response = client.post(link(invited), data={"answer": "decline", "confirm": "yes"}, follow_redirects=True)

    assert response.status_code == 200
    assert "Vous avez refusé cette session" in visible(text(response))
    assert fresh(invited.id).status == EnrollmentStatus.declined


def test_answering_the_same_twice_keeps_the_answer_and_says_it_was_already_given(client, invited):
    client.post(link(invited), data={"answer": "accept"}, follow_redirects=True)

    response = client.post(link(invited), data={"answer": "accept"}, follow_redirects=True)

    assert response.status_code == 200
    assert any("Vous avez déjà répondu à cette invitation" in message for message in flashes(text(response)))
    assert "Vous avez accepté cette session" in visible(text(response))
    assert fresh(invited.id).status == EnrollmentStatus.accepted


def test_a_learner_changes_their_answer_until_the_session_starts(client, invited):
    """Issue 16, line 9: after Decline there was no way back, even weeks before the session."""
    client.post(link(invited), data={"answer": "decline", "confirm": "yes"})
    page = visible(text(client.get(link(invited))))
    assert "Vous pouvez changer votre réponse jusqu'au début de la session." in page

    client.post(link(invited), data={"answer": "accept"})
    assert fresh(invited.id).status == EnrollmentStatus.accepted

    client.post(link(invited), data={"answer": "decline", "confirm": "yes"})
    assert fresh(invited.id).status == EnrollmentStatus.declined


def test_once_the_session_has_started_the_answer_stays(client, invited):
    client.post(link(invited), data={"answer": "accept"})
    session = fresh(invited.id).session
    session.starts_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    page = visible(text(client.get(link(invited))))
    assert "Refuser" not in page
    response = client.post(link(invited), data={"answer": "decline", "confirm": "yes"}, follow_redirects=True)

    assert any("La session a commencé" in message for message in flashes(text(response)))
    assert fresh(invited.id).status == EnrollmentStatus.accepted


def test_an_unknown_token_gives_a_not_found_page_that_explains(client, invited):
    response = client.get("/session-invitation/not-a-real-token")

    assert response.status_code == 404
    assert "This invitation link is not valid" in visible(text(response))


def test_a_withdrawn_invitation_says_so_and_cannot_be_accepted(client, invited):
    remove_learner(invited.session, invited.user, actor=None, now=utcnow())
    db.session.commit()

    response = client.post(link(invited), data={"answer": "accept"}, follow_redirects=True)

    assert "Cette invitation a été retirée" in visible(text(response))
    assert "Accepter" not in visible(text(response))
    assert fresh(invited.id).status == EnrollmentStatus.cancelled


def test_answering_a_withdrawn_invitation_does_not_claim_the_learner_already_answered(client, invited):
    remove_learner(invited.session, invited.user, actor=None, now=utcnow())
    db.session.commit()

    response = client.post(link(invited), data={"answer": "accept"}, follow_redirects=True)

    assert not any("Vous avez déjà répondu" in message for message in flashes(text(response)))


def test_a_forged_answer_without_csrf_token_is_refused(client, invited):
    response = client.post(link(invited), data={"answer": "accept"}, csrf=False)

    assert response.status_code == 400
    assert fresh(invited.id).status == EnrollmentStatus.invited


@pytest.fixture
def newcomer_enrollment(make_group, make_session):
    """nouveau@example.com, invited to the platform in French, registered for a session through
    a group, without an account yet."""
    group = make_group("Nouveaux")
    session = make_session(starts_at=utcnow() + timedelta(days=3), name="Accueil")
    assign_group(session, group, actor=None, now=utcnow())
    invite_people(["nouveau@example.com"], actor=None, now=utcnow(), group_ids=[group.id], language="fr")
    db.session.commit()
    return db.session.scalar(select(Enrollment).join(User, User.id == Enrollment.user_id)
                             .where(User.email == "nouveau@example.com"))


def test_someone_without_an_account_is_sent_to_their_platform_invitation_first(client, newcomer_enrollment):
    enrollment = newcomer_enrollment
    user = enrollment.user
    invitation = db.session.scalar(select(Invitation).where(Invitation.user_id == user.id))
    assert user.status == UserStatus.invited and invitation.status == InvitationStatus.pending

    page = text(client.get(link(enrollment)))
    assert "Créez d'abord votre compte" in visible(page)
    assert f'href="/invitation/{token_from_nonce(invitation.token_nonce)}?next={link(enrollment)}"' in page
    assert "Accepter" not in visible(page)

    response = client.post(link(enrollment), data={"answer": "accept"}, follow_redirects=True)
    assert "Créez d'abord votre compte" in visible(text(response))
    assert fresh(enrollment.id).status == EnrollmentStatus.invited
    db.session.expire_all()
    assert db.session.scalar(select(OutboxEmail.status).where(OutboxEmail.enrollment_id == enrollment.id)) \
        == OutboxStatus.queued


def test_registering_from_a_session_email_comes_back_to_the_session_to_answer_it(client, newcomer_enrollment):
    enrollment = newcomer_enrollment
    registration = re.search(r'href="(/invitation/[^"]+)"', text(client.get(link(enrollment)))).group(1)

    response = client.post(unescape(registration), data={"first_name": "Noé", "last_name": "Nouveau",
                                                         "password": "un-mot-de-passe", "confirm": "un-mot-de-passe"})

    assert response.status_code == 303 and response.location == link(enrollment)
    assert "Accepter" in visible(text(client.get(response.location)))


def test_registration_refuses_to_send_anyone_off_site_afterwards(client):
    (invitation,) = invite_people(["nouveau@example.com"], actor=None, now=utcnow(), language="fr").invitations
    db.session.commit()

    response = client.post(f"/invitation/{token_from_nonce(invitation.token_nonce)}?next=https://evil.example/",
                           data={"first_name": "Noé", "last_name": "Nouveau", "password": "un-mot-de-passe",
                                 "confirm": "un-mot-de-passe"})

    assert response.status_code == 303 and response.location == "/"


def test_a_deactivated_account_cannot_answer_through_its_link(client, invited):
    from lms.accounts.deactivation import deactivate_user

    deactivate_user(invited.user, actor=None, now=utcnow())
    db.session.commit()

    page = client.get(link(invited))
    assert "Ce compte est désactivé" in visible(text(page))
    assert "Accepter" not in visible(text(page))
    client.post(link(invited), data={"answer": "accept"})

    assert fresh(invited.id).status == EnrollmentStatus.invited


def queued_session_emails(enrollment):
    db.session.expire_all()
    return db.session.scalars(select(OutboxEmail).where(OutboxEmail.enrollment_id == enrollment.id,
                                                        OutboxEmail.status == OutboxStatus.queued)).all()


def test_accepting_early_from_the_link_withdraws_the_email_due_at_the_start(client, invited):
    """Issue 16, line 1: accepted days before the start, the learner is not invited again then."""
    (waiting,) = queued_session_emails(invited)
    assert waiting.due_at == invited.session.starts_at

    client.post(link(invited), data={"answer": "accept"})

    assert queued_session_emails(invited) == []
    db.session.expire_all()
    assert db.session.get(OutboxEmail, waiting.id).status == OutboxStatus.cancelled


def test_accepting_early_from_the_inbox_withdraws_the_email_due_at_the_start(app, invited):
    from tests.conftest import login

    learner = login(app.test_client(), invited.user)
    assert len(queued_session_emails(invited)) == 1

    response = learner.post(f"/my/enrollments/{invited.id}/accept")

    assert response.status_code == 303
    assert fresh(invited.id).status == EnrollmentStatus.accepted
    assert queued_session_emails(invited) == []
