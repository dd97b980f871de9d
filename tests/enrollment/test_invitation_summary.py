"""What an invitation gives, said the same on the registration page and in the invitation email
and its reminder (issue 16, line 8): the role when it is not learner, the groups, the sessions
with their dates, until when the account is active, and the inviter's message, escaped."""
import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from sqlalchemy import event, select

from lms.accounts.models import Role, User
from lms.enrollment.groups.services import add_group_members, remove_group_member
from lms.enrollment.invitations.models import Invitation
from lms.enrollment.invitations.services import invite_people, send_due_reminders
from lms.extensions import db
from lms.notifications.dispatcher import dispatch_due_emails
from lms.notifications.models import OutboxEmail
from lms.notifications.render import Links, hooks_of, render_email
from lms.programs.cascade import assign_group
from lms.programs.services import SESSION_END_FORMAT, SESSION_START_FORMAT
from lms.tokens import token_from_nonce
from tests.conftest import NOW, user_of
from tests.pages import text, utcnow, visible

MESSAGE = 'Welcome to the team!\nBring <b>your laptop</b> & a "badge" <script>alert(1)</script>'
UTC = ZoneInfo("UTC")


def starts(session, locale="en"):
    return format_datetime(session.starts_at, SESSION_START_FORMAT, tzinfo=UTC, locale=locale)


def ends(session, locale="en"):
    return format_datetime(session.ends_at, SESSION_END_FORMAT, tzinfo=UTC, locale=locale)


def long_date(day, locale="en"):
    return format_date(day, "long", locale=locale)


def invite(email, *, actor, groups=(), **options):
    outcome = invite_people([email], actor=actor, now=options.pop("now", None) or utcnow(),
                            group_ids=[group.id for group in groups], **options)
    db.session.commit()
    (invitation,) = outcome.invitations
    return invitation.id, token_from_nonce(invitation.token_nonce)


def page_of(client, token):
    response = client.get(f"/invitation/{token}")
    assert response.status_code == 200, text(response)
    return text(response)


def delivered(smtp_server, address):
    (message,) = smtp_server.to(address)
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    return message, plain, html


def future_session(make_session, days, name):
    start = utcnow().replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=days)
    return make_session(starts_at=start, ends_at=start + timedelta(hours=7), name=name)


def a_trainer_invitation(admin, make_group, make_session, **options):
    """Kate, invited as a trainer into two groups (one with two sessions), active until a date."""
    sales, paris = make_group("Sales North"), make_group("Paris <Office>")
    later, sooner = future_session(make_session, 20, "Autumn intake"), future_session(make_session, 10, "Spring intake")
    for session in (later, sooner):
        assign_group(session, sales, actor=admin, now=utcnow())
    db.session.commit()
    until = utcnow().date() + timedelta(days=90)
    invitation_id, token = invite("kate@example.com", actor=admin, groups=[sales, paris], role=Role.manager,
                                  deactivate_on=until, message=MESSAGE, **options)
    return {"token": token, "id": invitation_id, "sessions": [sooner, later], "until": until}


def assert_tells_what_it_gives(body, given, *, html):
    """The role, the message and who wrote it, the groups, the sessions soonest first with their
    dates, and the last day: as a person reads them."""
    read = visible(body) if html else " ".join(body.split())
    assert "You are invited as a trainer (manager)." in read
    assert "Ada Admin wrote:" in read
    assert "Welcome to the team!" in read
    assert 'Bring <b>your laptop</b> & a "badge" <script>alert(1)</script>' in read
    assert "You will join these groups:" in read
    assert "Paris <Office>" in read and "Sales North" in read
    assert "You are invited to these training sessions:" in read
    sooner, later = given["sessions"]
    lines = [f"{session.program.title} — {session.name}: {starts(session)} → {ends(session)}"
             for session in (sooner, later)]
    assert lines[0] in read and lines[1] in read
    assert read.index(lines[0]) < read.index(lines[1])
    assert f"Your account will be active until {long_date(given['until'])}, when it is deactivated." in read
    if html:  # the inviter's words are text, never markup
        assert "<script>alert(1)</script>" not in body and "<b>your laptop</b>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert "Paris &lt;Office&gt;" in body


# --- the registration page ----------------------------------------------------------------


def test_the_registration_page_says_role_groups_sessions_last_day_and_message(client, admin, make_group,
                                                                               make_session):
    given = a_trainer_invitation(admin, make_group, make_session)

    html = page_of(client, given["token"])

    assert_tells_what_it_gives(html, given, html=True)
    # the message is a quote, its lines kept
    assert re.search(r"<figure class=\"invitation-message\">\s*<figcaption>Ada Admin wrote:</figcaption>\s*"
                     r"<blockquote>Welcome to the team!<br>Bring &lt;b&gt;", html), html


def test_an_admin_invitation_says_so_and_a_learners_says_no_role(client, admin):
    _, admin_token = invite("boss@example.com", actor=admin, role=Role.admin)
    _, learner_token = invite("lea@example.com", actor=admin)

    admin_page = visible(page_of(client, admin_token))
    learner_page = page_of(client, learner_token)

    assert "You are invited as an administrator." in admin_page
    assert "You are invited as" not in visible(learner_page)
    # nothing to say: no empty quote, lists or section
    assert "invitation-gives" not in learner_page and "<blockquote" not in learner_page
    assert "active until" not in visible(learner_page)


def test_the_page_shows_the_groups_and_sessions_as_they_are_now(client, admin, make_group, make_session):
    sales, later_group = make_group("Sales North"), make_group("Joined later")
    _, token = invite("kate@example.com", actor=admin, groups=[sales])
    session = future_session(make_session, 5, "Kick-off")
    assign_group(session, sales, actor=admin, now=utcnow())
    add_group_members(later_group, [user_of("kate@example.com").id], actor=admin, now=utcnow())
    db.session.commit()

    page = visible(page_of(client, token))

    assert "Joined later" in page and "Sales North" in page
    assert f"{session.program.title} — Kick-off: {starts(session)}" in page


def test_the_page_in_french(client, admin, make_group, make_session):
    given = a_trainer_invitation(admin, make_group, make_session, language="fr")

    page = visible(page_of(client, given["token"]))

    assert "Vous êtes invité(e) en tant que formateur (gestionnaire)." in page
    assert "Ada Admin a écrit :" in page
    assert "Vous rejoindrez ces groupes :" in page
    sooner, _ = given["sessions"]
    assert f"{sooner.program.title} — {sooner.name}: {starts(sooner, 'fr')}" in page
    assert f"Votre compte sera actif jusqu'au {long_date(given['until'], 'fr')}" in page


# --- the emails, over SMTP ----------------------------------------------------------------


def test_the_invitation_email_says_what_the_page_says(app, admin, make_group, make_session, smtp_server, client):
    given = a_trainer_invitation(admin, make_group, make_session)

    assert dispatch_due_emails(now=utcnow()).sent == 1

    _, plain, html = delivered(smtp_server, "kate@example.com")
    assert_tells_what_it_gives(plain, given, html=False)
    assert_tells_what_it_gives(html, given, html=True)
    # the text version gives the message as written, after who wrote it
    assert f"\n\nAda Admin wrote:\n{MESSAGE}\n\n" in plain
    page = visible(page_of(client, given["token"]))
    for line in ("You are invited as a trainer (manager).", "Sales North", given["sessions"][0].name):
        assert line in page


def test_the_reminder_says_it_too(app, admin, make_group, make_session, smtp_server):
    sent = utcnow()
    given = a_trainer_invitation(admin, make_group, make_session, now=sent)
    dispatch_due_emails(now=sent)
    smtp_server.handler.messages.clear()

    assert send_due_reminders(now=sent + timedelta(days=3)) == 1
    db.session.commit()
    assert dispatch_due_emails(now=sent + timedelta(days=3)).sent == 1

    message, plain, html = delivered(smtp_server, "kate@example.com")
    assert message["Subject"].startswith("Reminder:")
    assert_tells_what_it_gives(plain, given, html=False)
    assert_tells_what_it_gives(html, given, html=True)


def test_an_email_queued_long_ago_names_the_groups_and_sessions_as_they_are_when_sent(
        app, admin, make_group, make_session, smtp_server, now):
    sales, paris, dropped = make_group("Sales North"), make_group("Paris Office"), make_group("Dropped")
    invite("kate@example.com", actor=admin, groups=[sales, dropped], now=now)
    (row,) = db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "invitation")).all()
    assert row.context["group_names"] == ["Dropped", "Sales North"]  # as it was when queued
    # meanwhile: another group, a session for it, and one group less
    kate = user_of("kate@example.com")
    session = make_session(starts_at=now + timedelta(days=12), name="Onboarding")
    assign_group(session, paris, actor=admin, now=now)
    add_group_members(paris, [kate.id], actor=admin, now=now)
    remove_group_member(dropped, kate, actor=admin, now=now)
    db.session.commit()

    dispatch_due_emails(now=now + timedelta(days=1))

    _, plain, _ = delivered(smtp_server, "kate@example.com")
    assert "- Paris Office\n- Sales North\n" in plain
    assert "Dropped" not in plain
    assert f"- {session.program.title} — Onboarding: {starts(session)}" in plain


def test_a_french_invitation_email_says_it_in_french(app, admin, make_group, make_session, smtp_server):
    given = a_trainer_invitation(admin, make_group, make_session, language="fr")

    dispatch_due_emails(now=utcnow())

    _, plain, html = delivered(smtp_server, "kate@example.com")
    sooner, later = given["sessions"]
    for body in (plain, visible(html)):
        assert "Vous êtes invité(e) en tant que formateur (gestionnaire)." in body
        assert "Ada Admin a écrit :" in body
        assert "Vous rejoindrez ces groupes :" in body
        assert f"{sooner.program.title} — {sooner.name}: {starts(sooner, 'fr')}" in body
        assert f"Votre compte sera actif jusqu'au {long_date(given['until'], 'fr')}" in body
        assert "You are invited" not in body and "active until" not in body


def test_a_learner_invitation_email_says_no_role_and_no_last_day(app, admin, smtp_server, now):
    invite("lea@example.com", actor=admin, now=now)

    dispatch_due_emails(now=now)

    _, plain, html = delivered(smtp_server, "lea@example.com")
    for body in (plain, html):
        assert "You are invited as" not in body and "active until" not in body
        assert "wrote:" not in body and "<blockquote" not in body
    assert "Ada Admin invites you to join LMS.\n\nAccept the invitation: " in plain


# --- one summary for many emails ------------------------------------------------------------


def _render_batch(app, emails):
    """What the dispatcher does before sending a batch: preload for all, then render each."""
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    kept = []
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for preload, rows in hooks_of(emails, "preload").items():
            kept += preload(rows, NOW)
        preloading = len(statements)
        links, merge = Links(app), {}
        rendered = [render_email(email, links, merge=merge) for email in emails]
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return preloading, len(statements) - preloading, rendered


def test_a_batch_of_invitation_emails_reads_what_they_give_in_a_few_queries_for_all(
        app, admin, make_group, make_session, now):
    group = make_group("Cohort")
    group_id, admin_id = group.id, admin.id
    for days in (5, 9):
        assign_group(make_session(starts_at=now + timedelta(days=days), name=f"Day {days}"), group,
                     actor=admin, now=now)
    db.session.commit()

    def batch(size, prefix):
        actor = db.session.get(User, admin_id)
        outcome = invite_people([f"{prefix}{n}@example.com" for n in range(size)], actor=actor, now=now,
                                group_ids=[group_id], role=Role.manager, deactivate_on=date(2027, 1, 1),
                                message="Hello")
        db.session.commit()
        ids = [invitation.id for invitation in outcome.invitations]
        db.session.expunge_all()
        return db.session.scalars(select(OutboxEmail).where(OutboxEmail.invitation_id.in_(ids))
                                  .order_by(OutboxEmail.id)).all()

    few_preload, few_render, _ = _render_batch(app, batch(3, "few"))
    many_preload, many_render, rendered = _render_batch(app, batch(60, "many"))

    assert many_preload == few_preload <= 5
    assert many_render == few_render == 0  # rendering reads nothing more, whatever the batch's size
    assert len(rendered) == 60 and len({email.text for email in rendered}) == 60  # each its own link
    for email in rendered:
        assert "You are invited as a trainer (manager)." in email.text
        assert "- Cohort\n" in email.text and "Day 5" in email.text and "Day 9" in email.text
        assert "January 1, 2027" in email.text


def test_the_invite_forms_preview_says_the_role_and_last_day(admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.post("/admin/invite/preview", data={
        "emails": "kate@example.com", "role": "manager", "groups": [str(group.id)],
        "deactivate_on": "2027-06-30", "message": "See you <soon>", "language": "en"})

    assert response.status_code == 200
    preview = visible(text(response))
    assert "You are invited as a trainer (manager)." in preview
    assert "Your account will be active until June 30, 2027, when it is deactivated." in preview
    assert "Sales North" in preview and "See you <soon>" in preview
    assert db.session.scalar(select(Invitation.id)) is None  # nothing saved


def test_a_session_that_ended_or_was_archived_is_not_offered(client, admin, make_group, make_session):
    sales = make_group("Sales North")
    _, token = invite("kate@example.com", actor=admin, groups=[sales])
    running = make_session(starts_at=utcnow() - timedelta(days=3), ends_at=utcnow() + timedelta(days=1), name="Running")
    over = make_session(starts_at=utcnow() - timedelta(days=3), ends_at=utcnow() + timedelta(hours=1), name="Over")
    shelved = future_session(make_session, 8, "Shelved")
    for session in (running, over, shelved):
        assign_group(session, sales, actor=admin, now=utcnow())
    over.ends_at = utcnow() - timedelta(minutes=1)
    shelved.archived_at = utcnow()
    db.session.commit()

    page = visible(page_of(client, token))

    assert "Running" in page
    assert "Over" not in page and "Shelved" not in page
