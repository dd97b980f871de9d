"""Invitation services (lms.enrollment.invitations.services) with injected time: R1, R7, R8, R9."""
import hashlib
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import event, func, select

from lms.accounts.models import Role, User, UserStatus
from lms.enrollment.groups.models import GroupMembership
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import (
    MAX_EMAILS_AT_ONCE,
    accept_invitation,
    cancel_invitations,
    decline_invitation,
    expire_due_invitations,
    find_invitation,
    invite_people,
    parse_email_list,
    resend_invitations,
    send_due_reminders,
    set_account,
)
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus, UserNotice
from lms.notifications.render import render_email
from lms.tokens import token_from_nonce
from tests.conftest import user_of

NEW_PASSWORD = "a-long-enough-password"


def invite(emails, *, now, actor=None, **options):
    outcome = invite_people(list(emails), actor=actor, now=now, **options)
    db.session.commit()
    return outcome


def invitation_of(email):
    db.session.expire_all()
    return db.session.scalars(
        select(Invitation).join(User, User.id == Invitation.user_id)
        .where(User.email == email).order_by(Invitation.id)
    ).all()


def outbox(*conditions):
    db.session.expire_all()
    return db.session.scalars(select(OutboxEmail).where(*conditions).order_by(OutboxEmail.id)).all()


def member_ids(group):
    return set(db.session.scalars(
        select(GroupMembership.user_id).where(GroupMembership.group_id == group.id)
    ))


def token_of(invitation):
    return token_from_nonce(invitation.token_nonce)


def accept(invitation, now, **names):
    user = accept_invitation(
        invitation, first_name=names.get("first_name", "Jane"), last_name=names.get("last_name", "Doe"),
        password=NEW_PASSWORD, now=now,
    )
    db.session.commit()
    return user


@contextmanager
def counting_statements():
    """Every SQL statement sent to the database while the block runs."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


# --- parse_email_list ----------------------------------------------------------------------


def test_addresses_may_be_separated_by_commas_semicolons_spaces_and_new_lines(app):
    parsed = parse_email_list("a@example.com, b@example.com;c@example.com d@example.com\n"
                              "e@example.com\r\n\tf@example.com ;, g@example.com\n\n")

    assert parsed.emails == [f"{letter}@example.com" for letter in "abcdefg"]
    assert parsed.rejected == []


def test_addresses_copied_from_a_mail_client_with_names_are_accepted(app):
    parsed = parse_email_list('James Smith <James.Smith@Example.com>, "Ann Lee" <ann@example.com>\n'
                              "bob@example.com")

    assert parsed.emails == ["james.smith@example.com", "ann@example.com", "bob@example.com"]
    assert parsed.rejected == []


def test_invalid_and_repeated_addresses_are_set_aside_with_their_reason(app):
    parsed = parse_email_list("ok@example.com, not-an-email, OK@example.com, x@, second@example.com,"
                              " second@example.com")

    assert parsed.emails == ["ok@example.com", "second@example.com"]
    assert parsed.rejected == [
        ("not-an-email", "not a valid email address"),
        ("x@", "not a valid email address"),
    ]
    # A repeat is not an error: the address is invited once (issue 16, line 7).
    assert parsed.repeated == ["ok@example.com", "second@example.com"]


def test_an_empty_list_gives_no_address_and_no_error(app):
    parsed = parse_email_list(" ,;\n ")

    assert parsed.emails == [] and parsed.rejected == []


def test_up_to_1000_addresses_at_once(app):
    text = "\n".join(f"person{number}@example.com" for number in range(MAX_EMAILS_AT_ONCE))

    assert len(parse_email_list(text).emails) == 1000


def test_more_than_1000_addresses_are_refused(app):
    text = "\n".join(f"person{number}@example.com" for number in range(MAX_EMAILS_AT_ONCE + 1))

    with pytest.raises(DomainError, match="At most 1,000 addresses") as error:
        parse_email_list(text)
    assert "1,001" in error.value.message
    assert error.value.field == "emails"


# --- invite_people -------------------------------------------------------------------------


def test_new_addresses_become_invited_users_with_one_pending_invitation_each(app, admin, make_group, now):
    sales, paris = make_group("Sales"), make_group("Paris")

    outcome = invite(["ann@example.com", "bob@example.com"], actor=admin, now=now, role=Role.manager,
                     language="fr", deactivate_on=date(2026, 12, 31), group_ids=[sales.id, paris.id],
                     message="  Welcome aboard!  ")

    assert outcome.invited == ["ann@example.com", "bob@example.com"]
    assert outcome.already_members == outcome.already_invited == outcome.rejected == []
    for email in ("ann@example.com", "bob@example.com"):
        user = user_of(email)
        assert (user.status, user.role, user.language) == (UserStatus.invited, Role.manager, "fr")
        assert user.deactivate_on == date(2026, 12, 31)
        assert user.password_hash is None
        (invitation,) = invitation_of(email)
        assert invitation.status == InvitationStatus.pending
        assert (invitation.role, invitation.language) == (Role.manager, "fr")
        assert invitation.message == "Welcome aboard!"
        assert invitation.invited_by_id == admin.id
        assert invitation.sent_at == now
        assert invitation.expires_at == now + timedelta(days=30)
        assert user.id in member_ids(sales) and user.id in member_ids(paris)
    emails = outbox()
    assert [(row.recipient, row.kind, row.status) for row in emails] == [
        ("ann@example.com", "invitation", OutboxStatus.queued),
        ("bob@example.com", "invitation", OutboxStatus.queued),
    ]
    assert all(row.due_at == now and row.language == "fr" for row in emails)


def test_an_invitation_without_a_language_is_in_the_platform_language(app, now):
    invite(["ann@example.com"], now=now)

    assert user_of("ann@example.com").language == "en"
    assert invitation_of("ann@example.com")[0].language == "en"


def test_an_unknown_language_is_refused(app, now):
    with pytest.raises(DomainError, match="Unknown language"):
        invite(["ann@example.com"], now=now, language="xx")


def test_r1_an_active_user_is_added_to_the_groups_and_told_not_invited(app, admin, make_user, make_group, now):
    member = make_user("member@example.com")
    group = make_group("Sales")

    outcome = invite(["member@example.com"], actor=admin, now=now, group_ids=[group.id])

    assert outcome.already_members == ["member@example.com"]
    assert outcome.invited == [] and outcome.invitations == []
    assert invitation_of("member@example.com") == []
    assert member.id in member_ids(group)
    assert user_of("member@example.com").status == UserStatus.active
    (notice,) = db.session.scalars(select(UserNotice).where(UserNotice.user_id == member.id)).all()
    assert notice.kind == "added_to_groups"
    assert notice.context["group_names"] == ["Sales"]
    assert notice.context["inviter_name"] == "Ada Admin"
    (email,) = outbox()
    assert (email.recipient, email.kind, email.user_id) == ("member@example.com", "added_to_groups", member.id)
    assert email.context["group_names"] == ["Sales"]


def test_r1_without_email_the_active_user_is_only_told_in_the_app(app, make_user, make_group, now):
    member = make_user("member@example.com")
    group = make_group("Sales")

    invite(["member@example.com"], now=now, group_ids=[group.id], send_email=False)

    assert member.id in member_ids(group)
    assert db.session.scalar(select(func.count()).select_from(UserNotice)) == 1
    assert outbox() == []


def test_an_invitee_with_a_pending_invitation_is_reported_as_already_invited(app, now):
    invite(["ann@example.com"], now=now)

    outcome = invite(["ann@example.com", "bob@example.com"], now=now + timedelta(hours=1))

    assert outcome.already_invited == ["ann@example.com"]
    assert outcome.invited == ["bob@example.com"]
    assert len(invitation_of("ann@example.com")) == 1
    assert [row.recipient for row in outbox()] == ["ann@example.com", "bob@example.com"]


def test_a_deactivated_account_is_rejected_with_a_reason(app, make_user, make_group, now):
    gone = make_user("gone@example.com", status=UserStatus.deactivated)
    group = make_group("Sales")

    outcome = invite(["gone@example.com", "new@example.com"], now=now, group_ids=[group.id])

    assert outcome.rejected == [("gone@example.com", "this account is deactivated; reactivate it first")]
    assert outcome.invited == ["new@example.com"]
    assert invitation_of("gone@example.com") == []
    assert gone.id not in member_ids(group)
    assert user_of("gone@example.com").status == UserStatus.deactivated
    assert [row.recipient for row in outbox()] == ["new@example.com"]


def test_without_send_email_invitations_exist_but_no_email_is_queued(app, make_group, now):
    group = make_group("Sales")

    outcome = invite(["ann@example.com", "bob@example.com"], now=now, group_ids=[group.id], send_email=False)

    assert outcome.invited == ["ann@example.com", "bob@example.com"]
    assert [inv.send_email for inv in outcome.invitations] == [False, False]
    assert outbox() == []


def test_an_invitee_whose_invitation_expired_can_be_invited_again(app, now):
    invite(["ann@example.com"], now=now)
    expire_due_invitations(now=now + timedelta(days=30))
    db.session.commit()

    later = now + timedelta(days=31)
    outcome = invite(["ann@example.com"], now=later, role=Role.manager)

    assert outcome.invited == ["ann@example.com"]
    old, new = invitation_of("ann@example.com")
    assert (old.status, new.status) == (InvitationStatus.expired, InvitationStatus.pending)
    assert new.expires_at == later + timedelta(days=30)
    assert find_invitation(token_of(new)).id == new.id


def test_inviting_1000_people_takes_a_handful_of_statements(app, make_user, make_group, now):
    group = make_group("Everyone")
    make_user("member@example.com")
    emails = ["member@example.com"] + [f"person{number}@example.com" for number in range(999)]

    with counting_statements() as statements:
        outcome = invite_people(emails, actor=None, now=now, group_ids=[group.id])
        db.session.flush()

    assert len(outcome.invited) == 999 and outcome.already_members == ["member@example.com"]
    assert len(statements) <= 20, "\n".join(statements)
    db.session.commit()
    assert len(member_ids(group)) == 1000
    assert len(outbox(OutboxEmail.kind == "invitation")) == 999


def test_the_number_of_statements_does_not_grow_with_the_number_of_addresses(app, make_group, now):
    group = make_group("Everyone")

    def statements_for(count, prefix):
        db.session.commit()
        with counting_statements() as statements:
            invite_people([f"{prefix}{number}@example.com" for number in range(count)],
                          actor=None, now=now, group_ids=[group.id])
            db.session.flush()
        db.session.commit()
        return len(statements)

    few = statements_for(10, "few")
    many = statements_for(500, "many")

    assert many <= few, f"10 addresses: {few} statements, 500 addresses: {many}"
    assert len(member_ids(group)) == 510


# --- set_account ---------------------------------------------------------------------------


def test_set_account_creates_an_active_user_who_can_sign_in(app, admin, make_group, client, now):
    group = make_group("Sales")

    user = set_account("New.Person@example.com", actor=admin, now=now, first_name="New",
                       last_name="Person", password="chosen-by-admin", group_ids=[group.id])
    db.session.commit()

    stored = user_of("new.person@example.com")
    assert (stored.status, stored.first_name, stored.last_name) == (UserStatus.active, "New", "Person")
    assert user.id in member_ids(group)
    assert invitation_of("new.person@example.com") == []
    response = client.post("/login", data={"email": "new.person@example.com", "password": "chosen-by-admin"})
    assert response.status_code == 303


def test_set_account_email_has_a_sign_in_link_but_not_the_password_by_default(app, admin, now):
    set_account("new@example.com", actor=admin, now=now, first_name="New", last_name="Person",
                password="chosen-by-admin")
    db.session.commit()

    (email,) = outbox()
    assert email.kind == "account_created"
    assert "password" not in email.context
    rendered = render_email(email)
    assert f"{app.config['BASE_URL']}/login" in rendered.text
    assert f"{app.config['BASE_URL']}/login" in rendered.html
    assert "chosen-by-admin" not in rendered.text and "chosen-by-admin" not in rendered.html
    assert "new@example.com" in rendered.text


def test_set_account_email_includes_the_password_only_when_asked(app, admin, now):
    set_account("new@example.com", actor=admin, now=now, first_name="New", last_name="Person",
                password="chosen-by-admin", include_password=True)
    db.session.commit()

    (email,) = outbox()
    rendered = render_email(email)
    assert "chosen-by-admin" in rendered.text and "chosen-by-admin" in rendered.html


def test_set_account_without_email_queues_nothing(app, now):
    set_account("new@example.com", actor=None, now=now, first_name="New", last_name="Person",
                password="chosen-by-admin", send_email=False)
    db.session.commit()

    assert user_of("new@example.com").status == UserStatus.active
    assert outbox() == []


def test_set_account_refuses_a_short_password(app, now):
    with pytest.raises(DomainError, match="at least 8 characters"):
        set_account("new@example.com", actor=None, now=now, first_name="New", last_name="Person",
                    password="short")


# --- tokens (R9) ---------------------------------------------------------------------------


def test_only_the_sha256_of_the_token_is_stored(app, admin, now):
    (invitation,) = invite(["ann@example.com"], actor=admin, now=now).invitations
    token = token_of(invitation)

    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    db.session.expire_all()
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(table.select()).all():
            assert token not in repr(tuple(row)), f"the token is stored in {table.name}"


def test_find_invitation_finds_it_by_its_token_and_nothing_by_another(app, now):
    (invitation,) = invite(["ann@example.com"], now=now).invitations
    token = token_of(invitation)

    assert find_invitation(token).id == invitation.id
    assert find_invitation(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert find_invitation(invitation.token_hash) is None
    assert find_invitation("") is None
    assert find_invitation("x" * 500) is None


def test_every_invitation_has_its_own_token(app, now):
    invitations = invite([f"p{number}@example.com" for number in range(20)], now=now).invitations

    assert len({token_of(inv) for inv in invitations}) == 20


# --- accept, decline -----------------------------------------------------------------------


def test_accepting_sets_names_password_role_and_status(app, client, now):
    (invitation,) = invite(["ann@example.com"], now=now, role=Role.manager).invitations

    accepted_at = now + timedelta(days=2)
    user = accept(invitation, accepted_at, first_name="  Ann ", last_name=" Lee ")

    stored = user_of("ann@example.com")
    assert stored.id == user.id
    assert (stored.first_name, stored.last_name) == ("Ann", "Lee")
    assert (stored.status, stored.role) == (UserStatus.active, Role.manager)
    (invitation,) = invitation_of("ann@example.com")
    assert invitation.status == InvitationStatus.accepted
    assert invitation.responded_at == accepted_at
    response = client.post("/login", data={"email": "ann@example.com", "password": NEW_PASSWORD})
    assert response.status_code == 303


def test_accepting_cancels_the_unsent_invitation_email(app, now):
    (invitation,) = invite(["ann@example.com"], now=now).invitations

    accept(invitation, now + timedelta(minutes=5))

    (email,) = outbox()
    assert email.status == OutboxStatus.cancelled


def test_an_invitation_can_be_accepted_only_once(app, now):
    (invitation,) = invite(["ann@example.com"], now=now).invitations
    accept(invitation, now + timedelta(hours=1), first_name="Ann")

    with pytest.raises(DomainError, match="already been used"):
        accept_invitation(invitation, first_name="Mallory", last_name="Evil", password="another-password",
                          now=now + timedelta(hours=2))
    db.session.rollback()

    assert user_of("ann@example.com").first_name == "Ann"


def test_an_expired_invitation_cannot_be_accepted(app, now):
    (invitation,) = invite(["ann@example.com"], now=now).invitations

    with pytest.raises(DomainError, match="has expired"):
        accept_invitation(invitation, first_name="Ann", last_name="Lee", password=NEW_PASSWORD,
                          now=now + timedelta(days=30))
    db.session.rollback()

    user = user_of("ann@example.com")
    assert (user.status, user.password_hash) == (UserStatus.invited, None)


def test_accepting_a_second_before_expiry_still_works(app, now):
    (invitation,) = invite(["ann@example.com"], now=now).invitations

    accept(invitation, now + timedelta(days=30) - timedelta(seconds=1))

    assert user_of("ann@example.com").status == UserStatus.active


def test_accepting_requires_names_and_a_long_enough_password(app, now):
    (invitation,) = invite(["ann@example.com"], now=now).invitations

    with pytest.raises(DomainError, match="first and last name"):
        accept_invitation(invitation, first_name=" ", last_name="Lee", password=NEW_PASSWORD, now=now)
    with pytest.raises(DomainError, match="at least 8 characters"):
        accept_invitation(invitation, first_name="Ann", last_name="Lee", password="short", now=now)
    db.session.rollback()

    assert invitation_of("ann@example.com")[0].status == InvitationStatus.pending


def test_declining_ends_the_invitation_and_cancels_its_emails(app, now):
    (invitation,) = invite(["ann@example.com"], now=now).invitations

    decline_invitation(invitation, now=now + timedelta(days=1))
    db.session.commit()

    (invitation,) = invitation_of("ann@example.com")
    assert invitation.status == InvitationStatus.declined
    assert invitation.responded_at == now + timedelta(days=1)
    assert [row.status for row in outbox()] == [OutboxStatus.cancelled]
    with pytest.raises(DomainError, match="declined"):
        accept_invitation(invitation, first_name="Ann", last_name="Lee", password=NEW_PASSWORD,
                          now=now + timedelta(days=2))
    db.session.rollback()
    assert send_due_reminders(now=now + timedelta(days=3)) == 0


# --- resend, cancel ------------------------------------------------------------------------


def test_resend_gives_a_new_token_and_expiry_and_replaces_the_unsent_email(app, admin, now):
    (invitation,) = invite(["ann@example.com"], actor=admin, now=now).invitations
    old_token = token_of(invitation)
    (old_email,) = outbox()

    later = now + timedelta(days=10)
    resent, refused = resend_invitations([invitation], actor=admin, now=later)
    db.session.commit()

    assert (len(resent), refused) == (1, [])
    (invitation,) = invitation_of("ann@example.com")
    new_token = token_of(invitation)
    assert new_token != old_token
    assert find_invitation(old_token) is None
    assert find_invitation(new_token).id == invitation.id
    assert (invitation.sent_at, invitation.expires_at) == (later, later + timedelta(days=30))
    old_email, new_email = outbox()
    assert old_email.status == OutboxStatus.cancelled
    assert (new_email.status, new_email.kind, new_email.recipient) == (OutboxStatus.queued, "invitation",
                                                                       "ann@example.com")
    assert new_email.due_at == later
    assert new_token in render_email(new_email).text
    assert old_token not in render_email(new_email).text


def test_resend_revives_an_expired_invitation_with_a_new_reminder(app, now):
    (invitation,) = invite(["ann@example.com"], now=now).invitations
    assert send_due_reminders(now=now + timedelta(days=3)) == 1
    assert expire_due_invitations(now=now + timedelta(days=30)) == 1
    db.session.commit()

    later = now + timedelta(days=35)
    resend_invitations(invitation_of("ann@example.com"), actor=None, now=later)
    db.session.commit()

    (invitation,) = invitation_of("ann@example.com")
    assert invitation.status == InvitationStatus.pending
    assert invitation.reminder_sent_at is None
    assert send_due_reminders(now=later + timedelta(days=3)) == 1


def test_resend_refuses_an_accepted_invitation(app, now):
    (invitation,) = invite(["ann@example.com"], now=now).invitations
    accept(invitation, now)

    resent, refused = resend_invitations(invitation_of("ann@example.com"), actor=None, now=now)

    assert resent == []
    assert [reason for _, reason in refused] == ["already accepted"]


def test_cancel_kills_the_token_and_the_unsent_emails(app, now):
    (invitation,) = invite(["ann@example.com"], now=now).invitations
    token = token_of(invitation)
    send_due_reminders(now=now + timedelta(days=3))
    db.session.commit()

    cancelled, refused = cancel_invitations(invitation_of("ann@example.com"), actor=None,
                                            now=now + timedelta(days=4))
    db.session.commit()

    assert (len(cancelled), refused) == (1, [])
    (invitation,) = invitation_of("ann@example.com")
    assert invitation.status == InvitationStatus.cancelled
    assert invitation.cancelled_at == now + timedelta(days=4)
    assert [(row.kind, row.status) for row in outbox()] == [
        ("invitation", OutboxStatus.cancelled), ("invitation_reminder", OutboxStatus.cancelled),
    ]
    with pytest.raises(DomainError, match="cancelled"):
        accept_invitation(find_invitation(token), first_name="Ann", last_name="Lee", password=NEW_PASSWORD,
                          now=now + timedelta(days=5))


def test_cancel_refuses_an_invitation_that_is_no_longer_pending(app, now):
    (invitation,) = invite(["ann@example.com"], now=now).invitations
    accept(invitation, now)

    cancelled, refused = cancel_invitations(invitation_of("ann@example.com"), actor=None, now=now)

    assert cancelled == []
    assert [reason for _, reason in refused] == ["already accepted"]
    assert user_of("ann@example.com").status == UserStatus.active


# --- R7: reminders and expiry with injected time -------------------------------------------


def reminders():
    return outbox(OutboxEmail.kind == "invitation_reminder")


def test_one_reminder_goes_out_exactly_three_days_after_sending(app, now):
    invite(["ann@example.com"], now=now)

    assert send_due_reminders(now=now + timedelta(days=2, hours=23, minutes=59)) == 0
    assert reminders() == []

    day_3 = now + timedelta(days=3)
    assert send_due_reminders(now=day_3) == 1
    db.session.commit()
    (reminder,) = reminders()
    assert (reminder.recipient, reminder.status, reminder.due_at) == ("ann@example.com", OutboxStatus.queued, day_3)
    assert invitation_of("ann@example.com")[0].reminder_sent_at == day_3

    assert send_due_reminders(now=day_3) == 0
    assert send_due_reminders(now=now + timedelta(days=4)) == 0
    assert send_due_reminders(now=now + timedelta(days=20)) == 0
    db.session.commit()
    assert len(reminders()) == 1


def test_a_late_run_still_sends_the_reminder_once(app, now):
    invite(["ann@example.com"], now=now)

    assert send_due_reminders(now=now + timedelta(days=6)) == 1
    assert send_due_reminders(now=now + timedelta(days=7)) == 0
    db.session.commit()
    assert len(reminders()) == 1


def test_no_reminder_for_an_invitation_without_email_or_no_longer_pending(app, now):
    invite(["quiet@example.com"], now=now, send_email=False)
    (accepted,) = invite(["accepted@example.com"], now=now).invitations
    accept(accepted, now + timedelta(days=1))

    assert send_due_reminders(now=now + timedelta(days=3)) == 0
    assert reminders() == []


def test_the_reminder_email_links_to_the_same_invitation(app, admin, now):
    (invitation,) = invite(["ann@example.com"], actor=admin, now=now).invitations
    send_due_reminders(now=now + timedelta(days=3))
    db.session.commit()

    (reminder,) = reminders()
    rendered = render_email(reminder)
    assert rendered.subject == "Reminder: your invitation to LMS expires on April 1, 2026"
    assert f"{app.config['BASE_URL']}/invitation/{token_of(invitation)}" in rendered.text


def test_an_invitation_expires_30_days_after_it_was_sent_not_a_second_before(app, now):
    invite(["ann@example.com"], now=now)

    assert expire_due_invitations(now=now + timedelta(days=30) - timedelta(seconds=1)) == 0
    assert invitation_of("ann@example.com")[0].status == InvitationStatus.pending

    assert expire_due_invitations(now=now + timedelta(days=30)) == 1
    db.session.commit()
    assert invitation_of("ann@example.com")[0].status == InvitationStatus.expired
    assert expire_due_invitations(now=now + timedelta(days=31)) == 0


def test_expiry_cancels_a_reminder_still_waiting_in_the_outbox(app, now):
    invite(["ann@example.com"], now=now)
    send_due_reminders(now=now + timedelta(days=3))
    db.session.commit()

    expire_due_invitations(now=now + timedelta(days=30))
    db.session.commit()

    (reminder,) = reminders()
    assert reminder.status == OutboxStatus.cancelled
    assert all(row.status == OutboxStatus.cancelled for row in outbox())


def test_expiry_leaves_other_invitations_alone(app, now):
    invite(["early@example.com"], now=now)
    invite(["late@example.com"], now=now + timedelta(days=1))

    assert expire_due_invitations(now=now + timedelta(days=30)) == 1
    db.session.commit()
    assert invitation_of("early@example.com")[0].status == InvitationStatus.expired
    assert invitation_of("late@example.com")[0].status == InvitationStatus.pending


def test_reminder_and_expiry_periods_are_settings(app, monkeypatch, now):
    monkeypatch.setitem(app.config, "LMS_INVITATION_REMINDER_DAYS", 1)
    monkeypatch.setitem(app.config, "LMS_INVITATION_EXPIRY_DAYS", 7)
    (invitation,) = invite(["ann@example.com"], now=now).invitations

    assert invitation.expires_at == now + timedelta(days=7)
    assert send_due_reminders(now=now + timedelta(hours=23, minutes=59)) == 0
    assert send_due_reminders(now=now + timedelta(days=1)) == 1
    assert expire_due_invitations(now=now + timedelta(days=7) - timedelta(seconds=1)) == 0
    assert expire_due_invitations(now=now + timedelta(days=7)) == 1
    db.session.commit()
    assert invitation_of("ann@example.com")[0].status == InvitationStatus.expired
