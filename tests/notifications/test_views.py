"""The outbox admin pages, each person's inbox (R1 notices, session invitations) and "My account"."""
import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.notifications.dispatcher import dispatch_due_emails
from lms.notifications.models import OutboxEmail, OutboxStatus, UserNotice
from lms.programs.models import Enrollment, EnrollmentStatus
from tests.conftest import PASSWORD, htmx_headers, login, signs_in, user_of
from tests.pages import field_error, flashes, text, utcnow, visible


def outbox_rows(html):
    """[(recipient, status)] of the outbox table, newest first."""
    rows = []
    for row in re.findall(r"<tr>\s*<td data-label=\"To\">(.*?)</tr>", html, re.S):
        recipient = visible(re.match(r"(.*?)</td>", row, re.S).group(1))
        rows.append((recipient, re.search(r'class="badge badge-(\w+)"', row).group(1)))
    return rows


def email_to(address):
    db.session.expire_all()
    return db.session.scalar(select(OutboxEmail).where(OutboxEmail.recipient == address)
                             .order_by(OutboxEmail.id.desc()))


def nav_badge(html):
    """The number on the navigation's Inbox link, or None when there is none."""
    link = re.search(r'<a href="/inbox"[^>]*>\s*Inbox(.*?)</a>', html, re.S).group(1)
    match = re.search(r'<span class="nav-badge" aria-label="(\d+) waiting">\s*(\d+)\s*</span>', link)
    if match:
        assert match.group(1) == match.group(2)
    return int(match.group(2)) if match else None




# --- outbox -------------------------------------------------------------------------------


@pytest.fixture
def mailed(admin, smtp_server):
    """Three invitation emails through a real SMTP server: two sent, one refused for good."""
    invite_people(["ann@example.com", "bob@example.com", "refused@example.com"], actor=admin, now=utcnow())
    db.session.commit()
    smtp_server.refuse("refused@example.com")
    dispatch_due_emails(now=utcnow())
    db.session.commit()
    assert len(smtp_server.messages) == 2
    return smtp_server


@pytest.mark.parametrize("role", ["learner", "manager"])
def test_the_outbox_is_for_admins_only(request, role, admin):
    invite_people(["ann@example.com"], actor=admin, now=utcnow())
    db.session.commit()
    email = email_to("ann@example.com")
    client = request.getfixturevalue(f"{role}_client")

    for response in (client.get("/admin/outbox"), client.get(f"/admin/outbox/{email.id}"),
                     client.post(f"/admin/outbox/{email.id}/retry")):
        assert response.status_code == 403
        assert "ann@example.com" not in text(response)


def test_the_outbox_lists_every_email_with_its_status_and_error(admin_client, mailed):
    response = admin_client.get("/admin/outbox")

    html = text(response)
    assert response.status_code == 200
    assert "<html" in html and '<div id="outbox-table"' in html
    assert outbox_rows(html) == [("refused@example.com", "failed"), ("bob@example.com", "sent"),
                                 ("ann@example.com", "sent")]
    assert "550 5.1.1 Mailbox unavailable" in html
    assert "No mail server is configured" not in html


@pytest.mark.parametrize("query, expected", [
    ("status=failed", [("refused@example.com", "failed")]),
    ("status=sent", [("bob@example.com", "sent"), ("ann@example.com", "sent")]),
    ("status=queued", []),
    ("q=BOB", [("bob@example.com", "sent")]),
    ("q=example.com&status=sent", [("bob@example.com", "sent"), ("ann@example.com", "sent")]),
    ("q=nobody", []),
])
def test_the_outbox_filters_by_status_and_searches_by_recipient(admin_client, mailed, query, expected):
    fragment = admin_client.get(f"/admin/outbox?{query}", headers=htmx_headers("outbox-table"))
    page = admin_client.get(f"/admin/outbox?{query}")

    assert fragment.status_code == 200
    assert "<html" not in text(fragment)
    assert outbox_rows(text(fragment)) == expected
    assert outbox_rows(text(page)) == expected
    if not expected:
        assert "No email matches." in text(fragment)


def test_without_a_mail_server_the_outbox_says_so_and_keeps_the_emails(admin_client, admin):
    invite_people(["ann@example.com"], actor=admin, now=utcnow())
    db.session.commit()
    dispatch_due_emails(now=utcnow())
    db.session.commit()

    html = text(admin_client.get("/admin/outbox"))

    assert "No mail server is configured: emails stay here, and you can open them to follow their links." \
        in visible(html)
    assert outbox_rows(html) == [("ann@example.com", "held")]
    assert "held: no mail server" in visible(html)
    assert email_to("ann@example.com").status == OutboxStatus.queued  # sent once a server is set


def test_an_email_page_renders_it_with_a_working_link(app, admin_client, admin, client):
    invite_people(["ann@example.com"], actor=admin, now=utcnow(), message="See you soon.")
    db.session.commit()
    email = email_to("ann@example.com")

    response = admin_client.get(f"/admin/outbox/{email.id}")

    html = text(response)
    assert response.status_code == 200
    assert "<h1>Ada Admin invited you to LMS</h1>" in html
    assert "To ann@example.com" in visible(html)
    srcdoc = unescape(re.search(r'srcdoc="([^"]*)"', html).group(1))
    assert "See you soon." in srcdoc
    plain = unescape(re.search(r'<pre class="email-text">(.*?)</pre>', html, re.S).group(1))
    link = re.search(r"Accept the invitation: (\S+)", plain).group(1)
    assert link.startswith(app.config["BASE_URL"] + "/invitation/")
    assert f'href="{link}"' in srcdoc
    registration = client.get(urlsplit(link).path)
    assert registration.status_code == 200
    assert 'value="ann@example.com" readonly' in text(registration)


def test_a_cancelled_email_is_shown_as_cancelled_not_rendered(admin_client, admin):
    (invitation,) = invite_people(["ann@example.com"], actor=admin, now=utcnow()).invitations
    db.session.commit()
    admin_client.post(f"/admin/invitations/{invitation.id}/cancel")
    email = email_to("ann@example.com")

    html = text(admin_client.get(f"/admin/outbox/{email.id}"))

    assert "This email was cancelled and will not be sent." in html
    assert "srcdoc" not in html and "/invitation/" not in html


def test_an_unknown_email_is_not_found(admin_client):
    assert admin_client.get("/admin/outbox/999999").status_code == 404
    assert admin_client.post("/admin/outbox/999999/retry").status_code == 404


def test_retrying_a_failed_email_queues_it_again(admin_client, mailed):
    failed = email_to("refused@example.com")
    page = text(admin_client.get(f"/admin/outbox/{failed.id}"))
    assert "Retry this email" in page and "550 5.1.1 Mailbox unavailable" in page

    response = admin_client.post(f"/admin/outbox/{failed.id}/retry")

    assert response.status_code == 303
    assert response.location == f"/admin/outbox/{failed.id}"
    after = text(admin_client.get(response.location))
    assert "The email to refused@example.com is queued again." in flashes(after)
    assert "Retry this email" not in after
    email = email_to("refused@example.com")
    assert email.status == OutboxStatus.queued and email.attempts == 0
    assert email.next_attempt_at <= utcnow()
    # and the dispatcher does send it now that the server takes it
    mailed.handler.refused_recipients.clear()
    dispatch_due_emails(now=utcnow())
    db.session.commit()
    assert email_to("refused@example.com").status == OutboxStatus.sent
    assert len(mailed.to("refused@example.com")) == 1


def test_a_sent_email_cannot_be_retried(admin_client, mailed):
    sent = email_to("ann@example.com")
    before = (sent.status, sent.attempts, sent.sent_at)
    assert "Retry this email" not in text(admin_client.get(f"/admin/outbox/{sent.id}"))

    response = admin_client.post(f"/admin/outbox/{sent.id}/retry")

    assert response.status_code == 303
    assert "Only failed emails can be retried; this one is sent." in flashes(text(admin_client.get(response.location)))
    again = email_to("ann@example.com")
    assert (again.status, again.attempts, again.sent_at) == before
    dispatch_due_emails(now=utcnow())
    assert len(mailed.to("ann@example.com")) == 1


# --- inbox: notices -----------------------------------------------------------------------


def test_a_learner_added_to_a_group_sees_the_notice_and_a_badge(admin_client, learner_client, make_group):
    group = make_group("Sales North")
    assert nav_badge(text(learner_client.get("/"))) is None

    invited = admin_client.post("/admin/invite", headers=htmx_headers("invite-panel"), data={
        "emails": "learner@example.com", "role": "learner", "language": "en", "groups": str(group.id),
    })
    assert "1 already had an account" in visible(text(invited))

    home = text(learner_client.get("/"))
    inbox = learner_client.get("/inbox")
    assert nav_badge(home) == 1
    assert inbox.status_code == 200
    assert nav_badge(text(inbox)) == 1
    assert "Ada Admin added you to Sales North." in visible(text(inbox))
    assert "Mark as read" in text(inbox)


def test_marking_a_notice_read_removes_it_and_the_badge(admin, learner_client, make_group):
    group = make_group("Sales North")
    invite_people(["learner@example.com"], actor=admin, now=utcnow(), group_ids=[group.id])
    db.session.commit()
    learner = user_of("learner@example.com")
    notice_id = db.session.scalar(select(UserNotice.id).where(UserNotice.user_id == learner.id))

    response = learner_client.post("/inbox/notices/read", data={"notice_id": str(notice_id)},
                                   headers=htmx_headers("inbox-notices"))

    html = text(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert "Nothing new." in html and "Sales North" not in html
    page = text(learner_client.get("/inbox"))
    assert nav_badge(page) is None
    assert "Sales North" not in page


def test_marking_read_without_htmx_goes_back_to_the_inbox(admin, learner_client, make_group):
    invite_people(["learner@example.com"], actor=admin, now=utcnow(), group_ids=[make_group("A").id])
    invite_people(["learner@example.com"], actor=admin, now=utcnow() + timedelta(seconds=1),
                  group_ids=[make_group("B").id])
    db.session.commit()

    response = learner_client.post("/inbox/notices/read")  # no id: all of them

    assert response.status_code == 303 and response.location == "/inbox"
    page = text(learner_client.get("/inbox"))
    assert "Nothing new." in page and nav_badge(page) is None


def test_a_learner_cannot_mark_someone_else_s_notice(admin, learner_client, make_user, make_group):
    other = make_user("other@example.com")
    invite_people(["other@example.com"], actor=admin, now=utcnow(), group_ids=[make_group("A").id])
    db.session.commit()
    notice_id = db.session.scalar(select(UserNotice.id).where(UserNotice.user_id == other.id))

    learner_client.post("/inbox/notices/read", data={"notice_id": str(notice_id)})

    db.session.expire_all()
    assert db.session.get(UserNotice, notice_id).read_at is None
    assert nav_badge(text(login(learner_client.application.test_client(), other).get("/inbox"))) == 1


# --- inbox: session invitations -----------------------------------------------------------


def enroll(user, session, status=EnrollmentStatus.invited):
    now = utcnow()
    enrollment = Enrollment(session_id=session.id, user_id=user.id, status=status, is_direct=True,
                            created_at=now, updated_at=now)
    db.session.add(enrollment)
    db.session.commit()
    return enrollment.id


def enrollment_status(enrollment_id):
    db.session.expire_all()
    return db.session.get(Enrollment, enrollment_id).status


@pytest.fixture
def learner(learner_client):
    return user_of("learner@example.com")


def test_pending_session_invitations_are_in_the_inbox_with_a_badge(learner_client, learner, make_session):
    photo = enroll(learner, make_session(name="Photography basics"))
    enroll(learner, make_session(name="Already in"), status=EnrollmentStatus.accepted)

    html = text(learner_client.get("/inbox"))

    assert nav_badge(html) == 1
    items = re.findall(r'<li id="enrollment-(\d+)" class="inbox-item">(.*?)</li>', html, re.S)
    assert [int(item_id) for item_id, _ in items] == [photo]
    assert "Photography basics" in items[0][1]
    assert "Accept" in items[0][1] and "Decline" in items[0][1]
    assert "Already in" not in html


@pytest.mark.parametrize("answer, status", [("accept", EnrollmentStatus.accepted),
                                            ("decline", EnrollmentStatus.declined)])
def test_a_learner_answers_a_session_invitation_from_the_inbox(learner_client, learner, make_session,
                                                               answer, status):
    session = make_session(name="Photography basics")
    enrollment_id = enroll(learner, session)

    response = learner_client.post(f"/my/enrollments/{enrollment_id}/{answer}", data={"confirm": "yes"},
                                   headers=htmx_headers(f"enrollment-{enrollment_id}"))

    html = text(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith(f'<li id="enrollment-{enrollment_id}" class="inbox-item">')
    assert f'<span class="badge badge-{status.value}">{status.value}</span>' in html
    assert "<button" not in html.split('<div id="flashes"')[0]  # no more Accept / Decline
    verb = "accepted" if answer == "accept" else "declined"
    assert f"You {verb} {session.program.title}: Photography basics." in flashes(html)
    assert enrollment_status(enrollment_id) == status
    page = text(learner_client.get("/inbox"))
    assert nav_badge(page) is None
    assert "No session is waiting for your answer." in page


def test_answering_twice_says_it_was_already_answered(learner_client, learner, make_session):
    enrollment_id = enroll(learner, make_session())
    learner_client.post(f"/my/enrollments/{enrollment_id}/accept")

    response = learner_client.post(f"/my/enrollments/{enrollment_id}/accept",
                                   headers=htmx_headers(f"enrollment-{enrollment_id}"))

    html = text(response)
    assert response.status_code == 200
    assert "You already answered this invitation: accepted." in flashes(html)
    assert '<span class="badge badge-accepted">accepted</span>' in html
    assert enrollment_status(enrollment_id) == EnrollmentStatus.accepted


def test_an_answer_cannot_change_once_the_session_has_started(learner_client, learner, make_session):
    enrollment_id = enroll(learner, make_session(starts_at=utcnow() - timedelta(hours=1)))
    learner_client.post(f"/my/enrollments/{enrollment_id}/accept")

    response = learner_client.post(f"/my/enrollments/{enrollment_id}/decline", data={"confirm": "yes"},
                                   headers=htmx_headers(f"enrollment-{enrollment_id}"))

    assert "The session has started: your answer (accepted) can no longer change." in flashes(text(response))
    assert enrollment_status(enrollment_id) == EnrollmentStatus.accepted


def test_declining_from_the_inbox_asks_first_and_keep_goes_back(learner_client, learner, make_session):
    """Issue 16, line 9: a confirmation on Decline."""
    enrollment_id = enroll(learner, make_session(name="Photography basics", starts_at=utcnow() + timedelta(days=20)))

    asked = learner_client.post(f"/my/enrollments/{enrollment_id}/decline",
                                headers=htmx_headers(f"enrollment-{enrollment_id}"))

    html = text(asked)
    assert asked.status_code == 200 and "<html" not in html
    assert "Decline " in visible(html) and "Photography basics?" in visible(html)
    assert "You can change your mind until the session starts" in visible(html)
    assert 'name="confirm" value="yes"' in html
    assert enrollment_status(enrollment_id) == EnrollmentStatus.invited
    kept = learner_client.get(f"/my/enrollments/{enrollment_id}", headers=htmx_headers(f"enrollment-{enrollment_id}"))
    assert "Accept" in text(kept) and "Decline" in text(kept)
    # Without htmx, the same question on a page of its own.
    page = learner_client.post(f"/my/enrollments/{enrollment_id}/decline")
    assert page.status_code == 200 and "<html" in text(page) and "Yes, decline" in text(page)


def test_a_learner_changes_their_mind_from_the_inbox_before_the_session(learner_client, learner, make_session):
    enrollment_id = enroll(learner, make_session(name="Photography basics", starts_at=utcnow() + timedelta(days=20)))
    learner_client.post(f"/my/enrollments/{enrollment_id}/decline", data={"confirm": "yes"})

    inbox = text(learner_client.get("/inbox"))
    assert "My answers" in inbox and "Photography basics" in inbox and "Accept after all" in inbox

    response = learner_client.post(f"/my/enrollments/{enrollment_id}/accept",
                                   headers=htmx_headers(f"enrollment-{enrollment_id}"))

    assert '<span class="badge badge-accepted">accepted</span>' in text(response)
    assert enrollment_status(enrollment_id) == EnrollmentStatus.accepted
    assert "Decline" in text(response)  # and back again, still before the start


def test_answering_without_htmx_goes_back_to_the_inbox(learner_client, learner, make_session):
    enrollment_id = enroll(learner, make_session(name="Photography basics"))

    response = learner_client.post(f"/my/enrollments/{enrollment_id}/accept")

    assert response.status_code == 303 and response.location == "/inbox"
    assert enrollment_status(enrollment_id) == EnrollmentStatus.accepted


@pytest.mark.parametrize("answer", ["accept", "decline"])
def test_a_learner_cannot_answer_someone_else_s_invitation(learner_client, make_user, make_session, answer):
    other = make_user("other@example.com")
    enrollment_id = enroll(other, make_session())

    response = learner_client.post(f"/my/enrollments/{enrollment_id}/{answer}",
                                   headers=htmx_headers(f"enrollment-{enrollment_id}"))

    assert response.status_code == 403
    assert enrollment_status(enrollment_id) == EnrollmentStatus.invited


def test_answering_needs_a_signed_in_user_and_a_real_enrollment(client, learner_client, make_user,
                                                                 make_session):
    enrollment_id = enroll(make_user("other@example.com"), make_session())

    assert client.post(f"/my/enrollments/{enrollment_id}/accept").status_code == 302
    assert learner_client.post("/my/enrollments/999999/accept").status_code == 404
    assert learner_client.post(f"/my/enrollments/{enrollment_id}/maybe").status_code == 404
    assert enrollment_status(enrollment_id) == EnrollmentStatus.invited


# --- inbox: the badge after an htmx answer -----------------------------------------------


def badge_after_swap(client, response):
    """The navigation badge once htmx has applied `response` to the inbox page, without a reload.

    The badge changes if the response swaps an out-of-band element holding the inbox link, asks
    for a refresh (HX-Refresh), or triggers an event (HX-Trigger) that an element of the page
    listens to; otherwise it stays as it was. Returns the count shown (None: no badge) or "stale".
    """
    page = text(client.get("/inbox"))
    if response.headers.get("HX-Refresh") == "true":
        return nav_badge(page)
    events = re.findall(r"[\w:.-]+", response.headers.get("HX-Trigger", ""))
    listened = " ".join(re.findall(r'hx-trigger="([^"]*)"', page))
    if any(event in listened for event in events):
        return nav_badge(page)
    nav = re.search(r'<nav aria-label="Main">.*?</nav>', page, re.S).group(0)
    html = text(response)
    starts = [match.start() for match in re.finditer(r"<[^>]*\bhx-swap-oob\b", html)] + [len(html)]
    for start, end in zip(starts, starts[1:]):
        chunk = html[start:end]
        element_id = re.match(r'<[^>]*\bid="([^"]+)"', chunk)
        in_nav = element_id is not None and f'id="{element_id.group(1)}"' in nav
        if in_nav or 'href="/inbox"' in chunk or "nav-badge" in chunk:
            badge = re.search(r'class="nav-badge"[^>]*>\s*(\d+)\s*<', chunk)
            return int(badge.group(1)) if badge else None
    return "stale"


def test_marking_a_notice_read_through_htmx_updates_the_badge_at_once(admin, learner_client, make_group):
    invite_people(["learner@example.com"], actor=admin, now=utcnow(), group_ids=[make_group("A").id])
    db.session.commit()
    notice_id = db.session.scalar(select(UserNotice.id).where(UserNotice.user_id == user_of("learner@example.com").id))
    assert nav_badge(text(learner_client.get("/inbox"))) == 1

    response = learner_client.post("/inbox/notices/read", data={"notice_id": str(notice_id)},
                                   headers=htmx_headers("inbox-notices"))

    assert badge_after_swap(learner_client, response) is None


def test_answering_a_session_through_htmx_updates_the_badge_at_once(learner_client, learner, make_session):
    first = enroll(learner, make_session(name="First"))
    enroll(learner, make_session(name="Second"))
    assert nav_badge(text(learner_client.get("/inbox"))) == 2

    response = learner_client.post(f"/my/enrollments/{first}/accept", headers=htmx_headers(f"enrollment-{first}"))

    assert badge_after_swap(learner_client, response) == 1


# --- my account ---------------------------------------------------------------------------


def password_form(current=PASSWORD, new="brand-new-secret", confirm=None):
    return {"password-current_password": current, "password-new_password": new,
            "password-confirm": new if confirm is None else confirm}


def test_a_wrong_current_password_is_an_error_next_to_the_field(app, learner_client, learner):
    response = learner_client.post("/account", data=password_form(current="not-my-password"))

    html = text(response)
    assert response.status_code == 422
    assert field_error(html, "password-current_password") == "The current password is not right."
    assert signs_in(app, "learner@example.com", PASSWORD)
    assert not signs_in(app, "learner@example.com", "brand-new-secret")


def test_mismatched_new_passwords_are_an_error_next_to_the_field(app, learner_client, learner):
    response = learner_client.post("/account", data=password_form(confirm="brand-new-secreT"))

    assert response.status_code == 422
    assert field_error(text(response), "password-confirm") == "The two passwords are not the same."
    assert signs_in(app, "learner@example.com", PASSWORD)


def test_changing_the_password_makes_the_new_one_sign_in_and_not_the_old(app, learner_client, learner):
    response = learner_client.post("/account", data=password_form())

    assert response.status_code == 303 and response.location == "/account"
    assert "Your password is changed." in flashes(text(learner_client.get("/account")))
    assert signs_in(app, "learner@example.com", "brand-new-secret")
    assert not signs_in(app, "learner@example.com", PASSWORD)


def test_changing_the_language_changes_the_pages(learner_client, learner):
    assert '<html lang="en">' in text(learner_client.get("/account"))

    response = learner_client.post("/account", data={"settings-language": "fr"})

    assert response.status_code == 303 and response.location == "/account"
    assert user_of("learner@example.com").language == "fr"
    page = text(learner_client.get("/account"))
    assert "Votre langue est enregistrée." in flashes(page)  # said in the language just chosen
    assert '<html lang="fr">' in page and "Aller au contenu" in page
    assert re.search(r'<option selected value="fr">|<option value="fr" selected>', page)


def test_an_unknown_language_is_refused(learner_client, learner):
    response = learner_client.post("/account", data={"settings-language": "xx"})

    assert response.status_code in (200, 422)
    assert field_error(text(response), "settings-language") == "Not a valid choice."
    assert user_of("learner@example.com").language == "en"


def test_the_account_page_needs_a_signed_in_user(client):
    response = client.get("/account")

    assert response.status_code == 302
    assert urlsplit(response.location).path == "/login"
