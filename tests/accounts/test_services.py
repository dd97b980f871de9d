"""Account services: emails, sign-in, profile edits and deactivation (R6)."""
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from lms.accounts.deactivation import deactivate_due_users, deactivate_user, reactivate_user
from lms.accounts.models import Role, User, UserStatus
from lms.accounts.services import (
    authenticate,
    create_user,
    normalize_email,
    parse_labels,
    update_user,
    user_search_query,
)
from lms.audit.models import AuditEvent
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from tests.conftest import PASSWORD


def test_emails_are_validated_and_lower_cased():
    assert normalize_email("  James.Smith@Example.COM ") == "james.smith@example.com"
    with pytest.raises(DomainError, match="not a valid email") as error:
        normalize_email("james.smith@")
    assert error.value.field == "email"
    with pytest.raises(DomainError, match="Enter an email"):
        normalize_email("   ")


def test_labels_split_on_bars_and_commas_trimmed_and_deduplicated():
    assert parse_labels(" North | France,, north |  ") == ["France", "North"]
    with pytest.raises(DomainError, match="longer than 100"):
        parse_labels("x" * 101)


def test_an_email_is_unique_whatever_its_case(app, now):
    create_user("Marie@Example.com", now=now)
    with pytest.raises(DomainError, match="already exists") as error:
        create_user("marie@EXAMPLE.com", now=now)
    assert error.value.field == "email"


def test_the_database_refuses_a_mixed_case_email_written_past_the_service(app, now):
    from sqlalchemy.exc import IntegrityError

    db.session.add(User(email="Mixed@Example.com", created_at=now, updated_at=now))
    with pytest.raises(IntegrityError):
        db.session.flush()


def test_create_user_hashes_the_password_and_refuses_short_ones(app, now):
    user = create_user("a@example.com", now=now, password="long enough", status=UserStatus.active)
    assert user.password_hash.startswith("scrypt:") and "long enough" not in user.password_hash
    with pytest.raises(DomainError, match="at least 8 characters"):
        create_user("b@example.com", now=now, password="short")


def test_create_user_refuses_an_unsupported_language(app, now):
    with pytest.raises(DomainError, match="Unknown language 'xx'"):
        create_user("c@example.com", now=now, language="xx")


def test_authenticate_gives_one_message_for_unknown_email_and_wrong_password(app, make_user, now):
    make_user("known@example.com")
    with pytest.raises(DomainError) as unknown:
        authenticate("nobody@example.com", PASSWORD, now=now)
    with pytest.raises(DomainError) as wrong:
        authenticate("known@example.com", "not the password", now=now)
    assert unknown.value.message == wrong.value.message == "Wrong email or password."


def test_authenticate_records_the_sign_in_time(app, make_user, now):
    user = make_user("Known@example.com")
    assert authenticate("KNOWN@example.com", PASSWORD, now=now) == user
    assert user.last_login_at == now


def test_invited_users_without_password_cannot_sign_in(app, make_user, now):
    make_user("invited@example.com", status=UserStatus.invited, password=None)
    with pytest.raises(DomainError, match="Wrong email or password"):
        authenticate("invited@example.com", "", now=now)


def test_deactivated_accounts_are_told_so_only_with_the_right_password(app, make_user, now):
    make_user("gone@example.com", status=UserStatus.deactivated)
    with pytest.raises(DomainError, match="deactivated"):
        authenticate("gone@example.com", PASSWORD, now=now)
    with pytest.raises(DomainError, match="Wrong email or password"):
        authenticate("gone@example.com", "guess", now=now)


def _edit(user, actor, now, **changes):
    values = dict(first_name=user.first_name, last_name=user.last_name, language=user.language,
                  role=user.role, labels=user.labels, additional_info=user.additional_info,
                  deactivate_on=user.deactivate_on, external_id=user.external_id)
    values.update(changes)
    return update_user(user, actor=actor, now=now, **values)


def test_update_user_changes_fields_and_audits_them(app, make_user, admin, now):
    user = make_user(labels=["Old"])
    changed = _edit(user, admin, now, first_name=" Jo ", role=Role.manager, labels=["A", "B"])
    assert set(changed) == {"first_name", "role", "labels"}
    db.session.commit()
    db.session.expire_all()
    assert (user.first_name, user.role, user.labels) == ("Jo", Role.manager, ["A", "B"])
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.updated"))
    assert event.actor_id == admin.id and event.target_id == user.id
    assert _edit(user, admin, now) == []


def test_an_admin_cannot_change_their_own_role(app, admin, now):
    with pytest.raises(DomainError, match="your own role") as error:
        _edit(admin, admin, now, role=Role.learner)
    assert error.value.field == "role"


def test_a_deactivation_date_must_be_after_today(app, make_user, admin, now):
    user = make_user()
    with pytest.raises(DomainError, match="after today"):
        _edit(user, admin, now, deactivate_on=now.date())
    _edit(user, admin, now, deactivate_on=now.date() + timedelta(days=1))
    assert user.deactivate_on == date(2026, 3, 3)


def _queue_email(user, now, key):
    email = OutboxEmail(recipient=user.email, user_id=user.id, kind="test", language="en",
                        due_at=now, next_attempt_at=now, dedupe_key=key, created_at=now)
    db.session.add(email)
    return email


def test_deactivation_cancels_unsent_emails_and_reactivation_restores_access(app, make_user, admin, now):
    user = make_user()
    queued = _queue_email(user, now, "queued")
    sent = _queue_email(user, now, "sent")
    sent.status = OutboxStatus.sent
    db.session.commit()

    assert deactivate_user(user, actor=admin, now=now) is True
    assert user.status == UserStatus.deactivated and not user.is_active
    assert (queued.status, sent.status) == (OutboxStatus.cancelled, OutboxStatus.sent)
    assert deactivate_user(user, actor=admin, now=now) is False

    assert reactivate_user(user, actor=admin, now=now) is True
    assert user.status == UserStatus.active


def test_reactivating_someone_who_never_set_a_password_makes_them_invited_again(app, make_user, admin, now):
    user = make_user(status=UserStatus.deactivated, password=None)
    reactivate_user(user, actor=admin, now=now)
    assert user.status == UserStatus.invited


def test_nobody_deactivates_their_own_account(app, admin, now):
    with pytest.raises(DomainError, match="your own account"):
        deactivate_user(admin, actor=admin, now=now)


def test_r6_deactivation_happens_at_the_start_of_the_day_in_the_platform_time_zone(app, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_TIMEZONE", "Europe/Brussels")  # UTC+1 in March
    user = make_user(deactivate_on=date(2026, 3, 5))
    _queue_email(user, datetime(2026, 3, 1, tzinfo=timezone.utc), "reminder")
    db.session.commit()

    # 22:59 UTC on the 4th is 23:59 in Brussels: still the 4th there.
    assert deactivate_due_users(now=datetime(2026, 3, 4, 22, 59, tzinfo=timezone.utc)) == 0
    assert user.status == UserStatus.active
    # 23:00 UTC on the 4th is midnight on the 5th in Brussels.
    assert deactivate_due_users(now=datetime(2026, 3, 4, 23, 0, tzinfo=timezone.utc)) == 1
    db.session.commit()
    db.session.expire_all()
    assert user.status == UserStatus.deactivated
    assert db.session.scalar(select(OutboxEmail.status)) == OutboxStatus.cancelled
    # Running again does nothing twice.
    assert deactivate_due_users(now=datetime(2026, 3, 6, tzinfo=timezone.utc)) == 0


def test_reactivating_after_the_date_passed_clears_it_so_the_scheduler_does_not_undo_it(app, make_user, admin, now):
    user = make_user(deactivate_on=now.date())
    deactivate_due_users(now=now)
    reactivate_user(user, actor=admin, now=now)
    assert user.deactivate_on is None
    assert deactivate_due_users(now=now) == 0 and user.status == UserStatus.active


def test_user_search_matches_every_word_on_names_and_email(app, make_user):
    make_user("james.smith@example.com", first_name="James", last_name="Smith")
    make_user("marie@example.com", first_name="Marie", last_name="Smith", role=Role.manager)
    make_user("100%@example.com", first_name="Percent", last_name="Sign")

    def emails(**filters):
        return [user.email for user in db.session.scalars(user_search_query(**filters))]

    assert emails(q="smith") == ["james.smith@example.com", "marie@example.com"]
    assert emails(q="SMITH james") == ["james.smith@example.com"]
    assert emails(q="smith", role="manager") == ["marie@example.com"]
    assert emails(q="100%") == ["100%@example.com"]  # a LIKE wildcard typed by a user is literal...
    assert emails(q="%") == []  # ...and matches only itself, at the start
    assert emails(q="nobody") == []
