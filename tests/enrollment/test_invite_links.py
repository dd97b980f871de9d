"""Invite links (lms.enrollment.links.services) through the services, with injected time.

Creating links (who may share what, and each option), their state, changing their terms,
tokens, joining as an existing account (R1, cascading as R2-R4), newcomers' form and emailed
confirmation, stale sign-ups, maximum uses under concurrent joins, and the QR codes.
"""
import hashlib
import io
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from lms.accounts.models import Role, User, UserStatus
from lms.audit.models import AuditEvent
from lms.due_work import run_due
from lms.enrollment.groups.models import Group, GroupMembership
from lms.enrollment.links.models import InviteLink, InviteLinkUse, LinkSignup
from lms.enrollment.links.qr import qr_png, qr_svg
from lms.enrollment.links.services import (
    DEAD_LINK_MESSAGES,
    MAX_USES_LIMIT,
    SIGNUP_VALIDITY,
    LinkState,
    SignupRefused,
    TermChange,
    confirm_signup,
    create_link,
    describe_change,
    enable_link,
    expires_on,
    expiry_day,
    find_link,
    find_signup,
    join_link,
    link_state,
    link_token,
    link_url,
    request_signup,
    revoke_link,
    update_link,
)
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.notifications.render import render_email
from lms.programs.cascade import assign_group
from lms.programs.models import Enrollment, EnrollmentStatus, Program, ProgramSession
from tests.conftest import NOW, password_hash, user_of

NEW_PASSWORD = "a-long-enough-password"
TODAY = NOW.date()  # the platform's time zone is UTC unless a test says otherwise


# --- helpers ------------------------------------------------------------------------------


def make_link(*, now=NOW, actor=None, target="group", **options):
    link = create_link(actor=actor, now=now, target=target, **options)
    db.session.commit()
    return link


def fresh(link):
    """The link (or link id) as the database has it now."""
    link_id = link if isinstance(link, int) else link.id
    db.session.expire_all()
    return db.session.get(InviteLink, link_id)


def join(link, user, now=NOW):
    outcome = join_link(link, user, now=now)
    db.session.commit()
    return outcome


def refused_join(link, user, now=NOW):
    """The message a refused join gives; nothing it did stays."""
    with pytest.raises(DomainError) as error:
        join_link(link, user, now=now)
    db.session.rollback()
    return str(error.value.message)


def sign_up(link, email="newcomer@example.com", now=NOW, **fields):
    request_signup(link, email=email, first_name=fields.get("first_name", "Nina"),
                   last_name=fields.get("last_name", "Newcomer"), language=fields.get("language", "en"), now=now)
    db.session.commit()


def confirm(token, now=NOW, password=NEW_PASSWORD):
    """The owner of the address confirms it, choosing their password."""
    user = confirm_signup(find_signup(token), password=password, now=now)
    db.session.commit()
    return user


def outbox(*conditions):
    db.session.expire_all()
    return db.session.scalars(select(OutboxEmail).where(*conditions).order_by(OutboxEmail.id)).all()


def confirmation_token(email_row):
    """The token in the /join/confirm/ link of a link_signup email, as its reader sees it."""
    text = render_email(email_row).text
    return re.search(r"/join/confirm/([A-Za-z0-9_-]+)", text).group(1)


def signups(email=None):
    db.session.expire_all()
    query = select(LinkSignup).order_by(LinkSignup.id)
    return db.session.scalars(query if email is None else query.where(LinkSignup.email == email)).all()


def member_ids(group):
    group_id = group if isinstance(group, int) else group.id
    db.session.expire_all()
    return set(db.session.scalars(select(GroupMembership.user_id).where(GroupMembership.group_id == group_id)))


def uses_of(link):
    link_id = link if isinstance(link, int) else link.id
    return db.session.scalar(select(func.count()).select_from(InviteLinkUse).where(InviteLinkUse.link_id == link_id))


def enrollments_of(session, user):
    db.session.expire_all()
    return db.session.scalars(select(Enrollment).where(Enrollment.session_id == session.id,
                                                       Enrollment.user_id == user.id)).all()


def session_emails(address):
    """[(status, due_at)] of the session invitation emails to `address`."""
    db.session.expire_all()
    return [tuple(row) for row in db.session.execute(
        select(OutboxEmail.status, OutboxEmail.due_at)
        .where(OutboxEmail.recipient == address, OutboxEmail.kind == "session_invitation")
        .order_by(OutboxEmail.id))]


def people(count, prefix="person"):
    """`count` active learners, committed at once; their ids."""
    users = [User(email=f"{prefix}{number}@example.com", first_name="P", last_name=str(number),
                  role=Role.learner, status=UserStatus.active, password_hash=password_hash(NEW_PASSWORD),
                  created_at=NOW, updated_at=NOW) for number in range(count)]
    db.session.add_all(users)
    db.session.commit()
    return [user.id for user in users]


# --- create_link: targets and roles -------------------------------------------------------


def test_an_admin_shares_a_link_to_the_platform_a_group_or_a_session(app, admin, make_group, make_session):
    group, session = make_group("Sales"), make_session()

    platform = make_link(actor=admin, target="platform")
    to_group = make_link(actor=admin, target="group", group=group)
    to_session = make_link(actor=admin, target="session", session=session)

    assert (fresh(platform).group_id, fresh(platform).session_id) == (None, None)
    assert fresh(to_group).group_id == group.id and fresh(to_group).session_id is None
    assert fresh(to_session).session_id == session.id and fresh(to_session).group_id is None
    assert {link_state(fresh(link), NOW) for link in (platform, to_group, to_session)} == {LinkState.live}


def test_a_link_makes_learners_by_default_and_managers_when_an_admin_asks(app, admin, make_group):
    group = make_group()

    assert make_link(actor=admin, group=group).role == Role.learner
    assert fresh(make_link(actor=admin, group=group, role="manager")).role == Role.manager


def test_no_link_makes_anyone_an_admin(app, admin, make_group):
    with pytest.raises(DomainError, match="cannot make anyone an admin") as error:
        create_link(actor=admin, now=NOW, target="group", group=make_group(), role=Role.admin)

    assert error.value.field == "role"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(InviteLink)) == 0


def test_a_manager_shares_learner_links_to_groups_of_the_sessions_they_train(
        app, make_user, make_group, make_session):
    manager = make_user(role=Role.manager)
    theirs, other = make_group("Theirs"), make_group("Other")
    assign_group(make_session(trainer=manager), theirs, actor=None, now=NOW)
    db.session.commit()

    assert make_link(actor=manager, group=theirs).group_id == theirs.id
    with pytest.raises(DomainError, match="cannot share a link to that") as error:
        create_link(actor=manager, now=NOW, target="group", group=other)
    assert error.value.field == "target"


def test_a_manager_shares_links_to_the_sessions_they_manage_and_no_others(
        app, make_user, make_session):
    """The sessions they train and those of the programs they own; not a sibling session of
    a program they only train in (R12)."""
    manager = make_user(role=Role.manager)
    trained = make_session(trainer=manager)
    sibling = ProgramSession(program=trained.program, name="Second run", starts_at=NOW + timedelta(days=30),
                             ends_at=NOW + timedelta(days=31), created_at=NOW)
    owned = Program(title="Owned", owner=manager, created_at=NOW)
    owned_session = ProgramSession(program=owned, name="Owned run", starts_at=NOW + timedelta(days=3),
                                   ends_at=NOW + timedelta(days=4), created_at=NOW)
    db.session.add_all([sibling, owned_session])
    db.session.commit()
    unrelated = make_session()

    for session in (trained, owned_session):
        assert make_link(actor=manager, target="session", session=session).session_id == session.id
    for session in (sibling, unrelated):
        with pytest.raises(DomainError, match="cannot share a link to that") as error:
            create_link(actor=manager, now=NOW, target="session", session=session)
        assert error.value.field == "target"


def test_a_manager_never_shares_a_platform_link(app, make_user, make_group, make_session):
    manager = make_user(role=Role.manager)
    assign_group(make_session(trainer=manager), make_group(), actor=None, now=NOW)
    db.session.commit()

    with pytest.raises(DomainError, match="cannot share a link to that") as error:
        create_link(actor=manager, now=NOW, target="platform")
    assert error.value.field == "target"


def test_a_manager_cannot_share_a_link_that_makes_managers(app, make_user, make_group, make_session):
    manager = make_user(role=Role.manager)
    group = make_group()
    assign_group(make_session(trainer=manager), group, actor=None, now=NOW)
    db.session.commit()

    with pytest.raises(DomainError, match="Only admins") as error:
        create_link(actor=manager, now=NOW, target="group", group=group, role=Role.manager)
    assert error.value.field == "role"


def test_a_learner_cannot_share_any_link(app, make_user, make_group, make_session):
    learner = make_user()
    group = make_group()
    session = make_session(trainer=learner)
    assign_group(session, group, actor=None, now=NOW)
    db.session.commit()

    for target, options in (("platform", {}), ("group", {"group": group}), ("session", {"session": session})):
        with pytest.raises(DomainError, match="cannot share a link to that"):
            create_link(actor=learner, now=NOW, target=target, **options)


# --- create_link: options -----------------------------------------------------------------


@pytest.mark.parametrize("max_uses", [1, MAX_USES_LIMIT])
def test_the_maximum_number_of_uses_may_be_anything_from_1_to_100000(app, admin, make_group, max_uses):
    assert fresh(make_link(actor=admin, group=make_group(), max_uses=max_uses)).max_uses == max_uses


@pytest.mark.parametrize("max_uses", [0, -1, MAX_USES_LIMIT + 1])
def test_a_maximum_number_of_uses_outside_1_to_100000_is_refused(app, admin, make_group, max_uses):
    with pytest.raises(DomainError, match="between 1 and 100,000") as error:
        create_link(actor=admin, now=NOW, target="group", group=make_group(), max_uses=max_uses)
    assert error.value.field == "max_uses"


def test_an_expiry_date_in_the_past_is_refused(app, admin, make_group):
    with pytest.raises(DomainError, match="from today on") as error:
        create_link(actor=admin, now=NOW, target="group", group=make_group(), expires_on=TODAY - timedelta(days=1))
    assert error.value.field == "expires_on"


def test_a_link_expiring_today_works_until_midnight_and_not_after(app, admin, make_group):
    link = make_link(actor=admin, group=make_group(), expires_on=TODAY)

    midnight = NOW.replace(hour=0) + timedelta(days=1)
    assert link_state(fresh(link), midnight - timedelta(seconds=1)) == LinkState.live
    assert link_state(fresh(link), midnight) == LinkState.expired
    assert expires_on(fresh(link)) == TODAY


def test_a_link_works_through_its_whole_expiry_day_in_the_platform_time_zone(app, admin, make_group, monkeypatch):
    # 10:00 UTC on 2 March is 23:00 in Auckland: the platform's 2 March ends an hour later.
    monkeypatch.setitem(app.config, "LMS_TIMEZONE", "Pacific/Auckland")
    link = make_link(actor=admin, group=make_group(), expires_on=date(2026, 3, 2))

    assert fresh(link).expires_at == NOW + timedelta(hours=1)
    assert link_state(fresh(link), NOW + timedelta(minutes=59)) == LinkState.live
    assert link_state(fresh(link), NOW + timedelta(hours=1)) == LinkState.expired
    assert expires_on(fresh(link)) == date(2026, 3, 2)


def test_yesterday_is_judged_in_the_platform_time_zone(app, admin, make_group, monkeypatch):
    # 10:00 UTC on 2 March is already 3 March, 00:00 on Kiritimati (UTC+14).
    monkeypatch.setitem(app.config, "LMS_TIMEZONE", "Pacific/Kiritimati")

    with pytest.raises(DomainError, match="from today on"):
        create_link(actor=admin, now=NOW, target="group", group=make_group(), expires_on=date(2026, 3, 2))
    assert expires_on(make_link(actor=admin, group=make_group(), expires_on=date(2026, 3, 3))) == date(2026, 3, 3)


def test_a_link_without_expiry_date_never_expires(app, admin, make_group):
    link = make_link(actor=admin, group=make_group())

    assert expires_on(fresh(link)) is None
    assert link_state(fresh(link), NOW + timedelta(days=3650)) == LinkState.live


@pytest.mark.parametrize("typed", ["@Acme.Example", "acme.example", "  @ACME.example "])
def test_the_allowed_domain_is_kept_without_at_sign_in_lower_case(app, admin, make_group, typed):
    assert fresh(make_link(actor=admin, group=make_group(), allowed_domain=typed)).allowed_domain == "acme.example"


@pytest.mark.parametrize("typed", ["acme", "not a domain", "@acme..example", "bob@acme.example"])
def test_something_that_is_not_an_email_domain_is_refused(app, admin, make_group, typed):
    with pytest.raises(DomainError, match="is not an email domain") as error:
        create_link(actor=admin, now=NOW, target="group", group=make_group(), allowed_domain=typed)
    assert error.value.field == "allowed_domain"


def test_a_blank_allowed_domain_lets_any_address_join(app, admin, make_group, make_user):
    group = make_group()
    link = make_link(actor=admin, group=group, allowed_domain="  ")

    assert fresh(link).allowed_domain is None
    assert join(link, make_user("anyone@elsewhere.example")).joined


@pytest.mark.parametrize("days", [0, -1])
def test_the_accounts_deactivation_date_must_be_after_today(app, admin, make_group, days):
    with pytest.raises(DomainError, match="after today") as error:
        create_link(actor=admin, now=NOW, target="group", group=make_group(),
                    deactivate_on=TODAY + timedelta(days=days))
    assert error.value.field == "deactivate_on"


def test_a_deactivation_date_from_tomorrow_is_kept(app, admin, make_group):
    link = make_link(actor=admin, group=make_group(), deactivate_on=TODAY + timedelta(days=1))

    assert fresh(link).deactivate_on == TODAY + timedelta(days=1)


def test_only_a_session_link_can_register_people_directly(app, admin, make_group, make_session):
    for target, options in (("group", {"group": make_group()}), ("platform", {})):
        with pytest.raises(DomainError, match="Only a session's link") as error:
            create_link(actor=admin, now=NOW, target=target, self_registration=True, **options)
        assert error.value.field == "self_registration"

    assert make_link(actor=admin, target="session", session=make_session(), self_registration=True) \
        .is_self_registration


def test_no_link_is_shared_to_a_session_that_is_over(app, admin, make_session):
    ended = make_session(starts_at=NOW - timedelta(days=3), ends_at=NOW - timedelta(hours=1))

    with pytest.raises(DomainError, match="session is over") as error:
        create_link(actor=admin, now=NOW, target="session", session=ended)
    assert error.value.field == "target"


def test_a_link_must_name_the_group_or_session_its_target_says(app, admin, make_group, make_session):
    with pytest.raises(DomainError, match="Choose what the link lets people join"):
        create_link(actor=admin, now=NOW, target="group")
    with pytest.raises(DomainError, match="Choose what the link lets people join"):
        create_link(actor=admin, now=NOW, target="platform", session=make_session())


# --- link_state, revoking and enabling ----------------------------------------------------


def test_a_new_link_is_live(app, admin, make_group):
    assert link_state(make_link(actor=admin, group=make_group(), max_uses=5, expires_on=TODAY), NOW) == LinkState.live


def test_a_revoked_link_is_revoked(app, admin, make_group):
    link = make_link(actor=admin, group=make_group())

    assert revoke_link(link, actor=admin, now=NOW)
    db.session.commit()
    assert link_state(fresh(link), NOW) == LinkState.revoked
    assert not revoke_link(fresh(link), actor=admin, now=NOW)  # once is enough


def test_a_link_past_its_expiry_is_expired(app, admin, make_group):
    link = make_link(actor=admin, group=make_group(), expires_on=TODAY + timedelta(days=2))

    assert link_state(fresh(link), NOW + timedelta(days=3)) == LinkState.expired


def test_a_link_is_expired_once_the_accounts_it_creates_would_be_deactivated(app, admin, make_group):
    link = make_link(actor=admin, group=make_group(), deactivate_on=TODAY + timedelta(days=1))

    assert link_state(fresh(link), NOW) == LinkState.live
    assert link_state(fresh(link), NOW + timedelta(days=1)) == LinkState.expired


def test_the_last_day_of_a_link_is_its_expiry_day_or_the_eve_of_its_accounts_deactivation(app, admin, make_group):
    expiring = make_link(actor=admin, group=make_group(), expires_on=TODAY + timedelta(days=10),
                         deactivate_on=TODAY + timedelta(days=30))
    deactivating = make_link(actor=admin, group=make_group(), expires_on=TODAY + timedelta(days=10),
                             deactivate_on=TODAY + timedelta(days=5))

    assert expires_on(fresh(expiring)) == TODAY + timedelta(days=10)
    assert expires_on(fresh(deactivating)) == TODAY + timedelta(days=4)


def test_a_link_used_as_often_as_it_allows_is_exhausted(app, admin, make_group, make_user):
    link = make_link(actor=admin, group=make_group(), max_uses=2)
    join(link, make_user())
    assert link_state(fresh(link), NOW) == LinkState.live

    join(link, make_user())

    assert link_state(fresh(link), NOW) == LinkState.exhausted


def test_a_session_link_ends_with_its_session(app, admin, make_session):
    session = make_session(starts_at=NOW + timedelta(days=1), ends_at=NOW + timedelta(days=2))
    link = make_link(actor=admin, target="session", session=session)

    assert link_state(fresh(link), NOW + timedelta(days=2) - timedelta(seconds=1)) == LinkState.live
    assert link_state(fresh(link), NOW + timedelta(days=2)) == LinkState.ended


def test_a_session_link_ends_when_its_session_is_archived(app, admin, make_session):
    session = make_session()
    link = make_link(actor=admin, target="session", session=session)

    session.archived_at = NOW
    db.session.commit()

    assert link_state(fresh(link), NOW) == LinkState.ended


def test_enabling_a_revoked_link_brings_back_the_same_address(app, admin, make_group):
    link = make_link(actor=admin, group=make_group())
    token, url = link_token(link), link_url(link)
    revoke_link(link, actor=admin, now=NOW)
    db.session.commit()

    assert enable_link(fresh(link), actor=admin, now=NOW + timedelta(hours=1))
    db.session.commit()

    found = find_link(token)
    assert found is not None and found.id == link.id
    assert link_state(found, NOW + timedelta(hours=1)) == LinkState.live
    assert link_url(found) == url
    assert not enable_link(found, actor=admin, now=NOW)  # it is on already


# --- update_link: changing the terms of a shared link ----------------------------------------


def terms(link):
    link = fresh(link)
    return link.max_uses, expires_on(link), link.allowed_domain


def update(link, *, now=NOW, actor=None, **values):
    """update_link with the link's current terms for the values not given; committed."""
    link = fresh(link)
    current = {"max_uses": link.max_uses, "expires_on": expiry_day(link), "allowed_domain": link.allowed_domain}
    changes = update_link(link, actor=actor, now=now, **{**current, **values})
    db.session.commit()
    return changes


def refused_update(link, *, now=NOW, actor=None, **values):
    """The DomainError a refused update raises; nothing it did stays."""
    with pytest.raises(DomainError) as error:
        update(link, now=now, actor=actor, **values)
    db.session.rollback()
    return error.value


def test_a_full_link_given_more_uses_lets_people_join_again_through_the_same_address(
        app, admin, make_group, make_user):
    group = make_group()
    link = make_link(actor=admin, group=group, max_uses=1)
    token, url, token_hash = link_token(link), link_url(link), link.token_hash
    join(link, make_user())
    assert link_state(fresh(link), NOW) == LinkState.exhausted

    changes = update(link, actor=admin, max_uses=3)

    assert changes == [TermChange("max_uses", 1, 3)]
    assert describe_change(changes[0]) == "maximum uses 1 → 3"
    found = find_link(token)
    assert found.id == link.id and found.token_hash == token_hash and link_url(found) == url
    assert link_state(found, NOW) == LinkState.live
    latecomer = make_user()
    assert join(found, latecomer).joined
    assert latecomer.id in member_ids(group)
    assert fresh(link).use_count == 2


def test_the_maximum_cannot_go_below_the_uses_made_and_the_message_names_both_numbers(
        app, admin, make_group, make_user):
    link = make_link(actor=admin, group=make_group(), max_uses=5)
    for _ in range(3):
        join(link, make_user())

    error = refused_update(link, actor=admin, max_uses=2)

    assert error.message == ("3 people have joined through this link already: the maximum uses cannot be 2, "
                             "only 3 or more (or no limit).")
    assert error.field == "max_uses"
    assert terms(link)[0] == 5
    assert update(link, max_uses=3) == [TermChange("max_uses", 5, 3)]  # as many as were made: now full
    assert link_state(fresh(link), NOW) == LinkState.exhausted


@pytest.mark.parametrize("max_uses", [0, -1, MAX_USES_LIMIT + 1])
def test_a_new_maximum_outside_1_to_100000_is_refused(app, admin, make_group, max_uses):
    link = make_link(actor=admin, group=make_group(), max_uses=5)

    error = refused_update(link, max_uses=max_uses)

    assert (error.message, error.field) == ("The maximum number of uses is between 1 and 100,000.", "max_uses")
    assert terms(link)[0] == 5


def test_the_uses_counted_in_the_database_decide_not_a_stale_copy_of_the_link(app, admin, make_group, make_user):
    """A join counted by another worker between reading the link and writing its new maximum."""
    link = make_link(actor=admin, group=make_group(), max_uses=5)
    join(link, make_user())
    stale = fresh(link)
    db.session.execute(InviteLink.__table__.update().values(use_count=2))  # not seen by `stale`
    assert stale.use_count == 1

    with pytest.raises(DomainError, match="^2 people have joined") as error:
        update_link(stale, actor=admin, now=NOW, max_uses=1, expires_on=None, allowed_domain=None)
    assert error.value.field == "max_uses"
    db.session.rollback()
    assert terms(link)[0] == 5


def test_the_maximum_can_be_removed(app, admin, make_group, make_user):
    link = make_link(actor=admin, group=make_group(), max_uses=1)
    join(link, make_user())

    assert update(link, max_uses=None) == [TermChange("max_uses", 1, None)]
    assert describe_change(TermChange("max_uses", 1, None)) == "maximum uses 1 → no limit"
    assert link_state(fresh(link), NOW) == LinkState.live


def test_an_expired_link_given_a_later_last_day_works_again(app, admin, make_group, make_user):
    link = make_link(actor=admin, group=make_group(), expires_on=TODAY)
    later = NOW + timedelta(days=2)
    assert link_state(fresh(link), later) == LinkState.expired

    changes = update(link, now=later, actor=admin, expires_on=TODAY + timedelta(days=9))

    assert changes == [TermChange("expires_on", TODAY, TODAY + timedelta(days=9))]
    assert describe_change(changes[0]) == f"works until {TODAY.isoformat()} → {TODAY + timedelta(days=9)}"
    assert expires_on(fresh(link)) == TODAY + timedelta(days=9)
    assert link_state(fresh(link), later) == LinkState.live
    assert join(fresh(link), make_user(), now=later).joined


def test_a_new_last_day_is_valid_through_its_whole_day_in_the_platform_time_zone(app, admin, make_group, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_TIMEZONE", "Pacific/Auckland")
    link = make_link(actor=admin, group=make_group())

    update(link, expires_on=date(2026, 3, 2))

    assert fresh(link).expires_at == NOW + timedelta(hours=1)
    assert expires_on(fresh(link)) == date(2026, 3, 2)


def test_a_last_day_in_the_past_is_refused(app, admin, make_group):
    link = make_link(actor=admin, group=make_group(), expires_on=TODAY + timedelta(days=5))

    error = refused_update(link, expires_on=TODAY - timedelta(days=1))

    assert (error.message, error.field) == ("Choose an expiry date from today on.", "expires_on")
    assert refused_update(link, expires_on=date(9999, 12, 31)).message == "Choose a date up to 2099-12-31."
    assert terms(link)[1] == TODAY + timedelta(days=5)
    assert update(link, expires_on=TODAY) == [TermChange("expires_on", TODAY + timedelta(days=5), TODAY)]


def test_the_past_last_day_of_an_expired_link_does_not_stop_another_change(app, admin, make_group):
    link = make_link(actor=admin, group=make_group(), expires_on=TODAY)
    later = NOW + timedelta(days=3)

    assert update(link, now=later, allowed_domain="@acme.example") == [
        TermChange("allowed_domain", None, "acme.example")]
    assert link_state(fresh(link), later) == LinkState.expired  # still: its day is past


def test_the_last_day_can_be_removed(app, admin, make_group):
    link = make_link(actor=admin, group=make_group(), expires_on=TODAY)

    assert update(link, expires_on=None) == [TermChange("expires_on", TODAY, None)]
    assert fresh(link).expires_at is None
    assert link_state(fresh(link), NOW + timedelta(days=365)) == LinkState.live


def test_a_last_day_on_or_after_the_accounts_deactivation_is_refused_saying_the_latest(app, admin, make_group):
    link = make_link(actor=admin, group=make_group(), deactivate_on=TODAY + timedelta(days=10))

    error = refused_update(link, expires_on=TODAY + timedelta(days=10))

    assert error.field == "expires_on"
    assert error.message == (f"The accounts this link creates are deactivated on {TODAY + timedelta(days=10)}, "
                             f"so it works until {TODAY + timedelta(days=9)} at the latest.")
    assert update(link, expires_on=TODAY + timedelta(days=9))[0].after == TODAY + timedelta(days=9)


@pytest.mark.parametrize("typed", ["@Acme.Example", "acme.example", "  @ACME.example "])
def test_a_new_domain_is_kept_as_at_creation(app, admin, make_group, typed):
    link = make_link(actor=admin, group=make_group())

    assert update(link, allowed_domain=typed) == [TermChange("allowed_domain", None, "acme.example")]
    assert describe_change(TermChange("allowed_domain", None, "acme.example")) == \
        "email addresses any → only @acme.example"


@pytest.mark.parametrize("typed", ["acme", "not a domain", "@acme..example", "bob@acme.example"])
def test_a_new_domain_that_is_not_an_email_domain_is_refused(app, admin, make_group, typed):
    link = make_link(actor=admin, group=make_group(), allowed_domain="acme.example")

    error = refused_update(link, allowed_domain=typed)

    assert "is not an email domain" in error.message and error.field == "allowed_domain"
    assert terms(link)[2] == "acme.example"


def test_a_changed_domain_decides_who_joins_from_then_on(app, admin, make_group, make_user):
    link = make_link(actor=admin, group=make_group(), allowed_domain="acme.example")
    assert join(link, make_user("early@acme.example")).joined

    update(link, allowed_domain="@beta.example")

    assert refused_join(fresh(link), make_user("late@acme.example")) == \
        "This link is only for addresses ending in @beta.example."
    assert join(fresh(link), make_user("new@beta.example")).joined
    update(link, allowed_domain="  ")
    assert fresh(link).allowed_domain is None
    assert join(fresh(link), make_user("anyone@elsewhere.example")).joined


def test_an_update_is_an_audit_event_naming_each_change(app, admin, make_group):
    link = make_link(actor=admin, group=make_group(), max_uses=10)

    changes = update(link, actor=admin, max_uses=20, expires_on=TODAY + timedelta(days=7),
                     allowed_domain="acme.example")

    assert [change.field for change in changes] == ["max_uses", "expires_on", "allowed_domain"]
    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "invite_link.updated")).all()
    assert (event.actor_id, event.target_type, event.target_id) == (admin.id, "invite_link", link.id)
    assert event.details == {"changes": {"max_uses": [10, 20],
                                         "expires_on": [None, (TODAY + timedelta(days=7)).isoformat()],
                                         "allowed_domain": [None, "acme.example"]}}


def test_an_update_that_changes_nothing_records_nothing(app, admin, make_group):
    link = make_link(actor=admin, group=make_group(), max_uses=10, expires_on=TODAY, allowed_domain="acme.example")

    assert update(link, actor=admin, allowed_domain="@ACME.example") == []
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "invite_link.updated")) == 0


def test_only_those_who_manage_a_link_may_change_it(app, admin, make_user, make_group, make_session):
    manager, outsider = make_user(role=Role.manager), make_user(role=Role.manager)
    session = make_session(trainer=manager)
    link = make_link(actor=admin, target="session", session=session, max_uses=5)
    managers_link = make_link(actor=admin, target="session", session=session, role=Role.manager, max_uses=5)

    assert update(link, actor=manager, max_uses=8)[0].after == 8
    for actor, target in ((outsider, link), (manager, managers_link), (make_user(), link)):
        assert refused_update(target, actor=actor, max_uses=50).message == "You cannot change this link."
    assert (terms(link)[0], terms(managers_link)[0]) == (8, 5)


# --- tokens -------------------------------------------------------------------------------


def test_the_links_token_finds_it_and_nothing_else_does(app, admin, make_group):
    link = make_link(actor=admin, group=make_group())
    other = make_link(actor=admin, group=make_group())
    token = link_token(link)

    assert find_link(token).id == link.id
    assert find_link(link_token(other)).id == other.id
    assert find_link(token[:-1]) is None
    assert find_link("") is None
    assert link_url(link).endswith(f"/join/{token}")


def test_only_the_sha256_of_the_token_is_stored(app, admin, make_group, make_session):
    links = [make_link(actor=admin, target="platform"), make_link(actor=admin, group=make_group()),
             make_link(actor=admin, target="session", session=make_session())]
    tokens = {link.id: link_token(link) for link in links}
    db.session.expire_all()

    rows = db.session.execute(select(InviteLink.__table__)).mappings().all()

    assert len(rows) == 3
    for row in rows:
        token = tokens[row["id"]]
        assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
        assert not any(token in str(value) for value in row.values())


# --- joining with an existing account (R1, cascading as R2-R4) -----------------------------


def test_joining_a_group_link_adds_the_member_at_once_and_enrolls_them_in_its_sessions(
        app, admin, make_group, make_session, make_user):
    group = make_group("Cohort")
    session = make_session(starts_at=NOW + timedelta(days=7))
    assign_group(session, group, actor=None, now=NOW - timedelta(days=1))
    link = make_link(actor=admin, group=group)
    learner = make_user("lea@example.com")

    outcome = join(link, learner)

    assert outcome.joined
    assert member_ids(group) == {learner.id}
    (enrollment,) = enrollments_of(session, learner)
    assert enrollment.status == EnrollmentStatus.invited
    assert session_emails("lea@example.com") == [(OutboxStatus.queued, session.starts_at)]
    assert fresh(link).use_count == 1 and uses_of(link) == 1


def test_joining_a_session_link_invites_with_the_email_due_at_the_sessions_start(
        app, admin, make_session, make_user):
    session = make_session(starts_at=NOW + timedelta(days=5))
    link = make_link(actor=admin, target="session", session=session)
    learner = make_user("sam@example.com")

    assert join(link, learner).joined

    (enrollment,) = enrollments_of(session, learner)
    assert enrollment.status == EnrollmentStatus.invited and enrollment.is_direct
    assert session_emails("sam@example.com") == [(OutboxStatus.queued, NOW + timedelta(days=5))]


def test_joining_a_session_link_after_the_session_started_sends_the_email_at_once(
        app, admin, make_session, make_user):
    session = make_session(starts_at=NOW - timedelta(hours=2), ends_at=NOW + timedelta(days=2))
    link = make_link(actor=admin, target="session", session=session)

    join(link, make_user("late@example.com"))

    assert session_emails("late@example.com") == [(OutboxStatus.queued, NOW)]


def test_a_self_registration_link_registers_as_accepted_without_an_invitation_email(
        app, admin, make_session, make_user):
    session = make_session(starts_at=NOW + timedelta(days=5))
    link = make_link(actor=admin, target="session", session=session, self_registration=True)
    learner = make_user("self@example.com")

    assert join(link, learner).joined

    (enrollment,) = enrollments_of(session, learner)
    assert enrollment.status == EnrollmentStatus.accepted
    assert enrollment.responded_at == NOW
    assert [row for row in session_emails("self@example.com") if row[0] == OutboxStatus.queued] == []


def test_self_registration_accepts_a_pending_group_invitation_and_cancels_its_email(
        app, admin, make_group, make_session, make_user):
    learner = make_user("grouped@example.com")
    group = make_group(members=[learner])
    session = make_session(starts_at=NOW + timedelta(days=5))
    assign_group(session, group, actor=None, now=NOW)
    db.session.commit()
    assert session_emails("grouped@example.com") == [(OutboxStatus.queued, session.starts_at)]
    link = make_link(actor=admin, target="session", session=session, self_registration=True)

    join(link, learner)

    (enrollment,) = enrollments_of(session, learner)
    assert enrollment.status == EnrollmentStatus.accepted
    assert session_emails("grouped@example.com") == [(OutboxStatus.cancelled, session.starts_at)]


def test_joining_a_group_link_twice_changes_nothing_the_second_time(
        app, admin, make_group, make_session, make_user):
    group = make_group()
    session = make_session()
    assign_group(session, group, actor=None, now=NOW)
    link = make_link(actor=admin, group=group, max_uses=10)
    learner = make_user("twice@example.com")
    assert join(link, learner).joined

    again = join(link, learner, now=NOW + timedelta(minutes=1))

    assert not again.joined
    assert fresh(link).use_count == 1 and uses_of(link) == 1
    assert member_ids(group) == {learner.id}
    assert len(enrollments_of(session, learner)) == 1
    assert len(session_emails("twice@example.com")) == 1


def test_joining_a_session_link_twice_sends_one_invitation(app, admin, make_session, make_user):
    session = make_session()
    link = make_link(actor=admin, target="session", session=session)
    learner = make_user("again@example.com")
    join(link, learner)

    assert not join(link, learner, now=NOW + timedelta(hours=1)).joined

    assert len(enrollments_of(session, learner)) == 1
    assert len(session_emails("again@example.com")) == 1
    assert fresh(link).use_count == 1 and uses_of(link) == 1


def test_an_address_outside_the_allowed_domain_is_refused_naming_the_domain(app, admin, make_group, make_user):
    group = make_group()
    link = make_link(actor=admin, group=group, allowed_domain="@Acme.Example")
    outsider = make_user("eve@other.example")
    near_miss = make_user("mallory@sub.acme.example")

    assert "@acme.example" in refused_join(link, outsider)
    assert "@acme.example" in refused_join(fresh(link), near_miss)
    assert member_ids(group) == set()
    assert fresh(link).use_count == 0 and uses_of(link) == 0


def test_an_address_at_the_allowed_domain_joins(app, admin, make_group, make_user):
    group = make_group()
    link = make_link(actor=admin, group=group, allowed_domain="acme.example")
    insider = make_user("Ann@ACME.example")

    assert join(link, insider).joined
    assert member_ids(group) == {insider.id}


def test_a_deactivated_account_cannot_join(app, admin, make_group, make_user):
    group = make_group()
    link = make_link(actor=admin, group=group)

    assert "deactivated" in refused_join(link, make_user(status=UserStatus.deactivated))
    assert member_ids(group) == set() and fresh(link).use_count == 0


def _dead_link(state, *, admin, group, session, make_user):
    """A group (or, for `ended`, session) link in the given state at NOW + 1 day."""
    if state == LinkState.ended:
        return make_link(actor=admin, target="session", session=session)
    if state == LinkState.expired:
        return make_link(actor=admin, group=group, expires_on=TODAY)
    if state == LinkState.exhausted:
        link = make_link(actor=admin, group=group, max_uses=1)
        join(link, make_user())
        return fresh(link)
    link = make_link(actor=admin, group=group)
    revoke_link(link, actor=admin, now=NOW)
    db.session.commit()
    return link


@pytest.mark.parametrize("state", [LinkState.revoked, LinkState.expired, LinkState.exhausted, LinkState.ended])
def test_a_dead_link_refuses_to_join_saying_why(app, admin, make_group, make_session, make_user, state):
    group = make_group()
    session = make_session(starts_at=NOW + timedelta(hours=1), ends_at=NOW + timedelta(hours=5))
    link = _dead_link(state, admin=admin, group=group, session=session, make_user=make_user)
    later = NOW + timedelta(days=1)
    newcomer = make_user("late@example.com")
    assert link_state(fresh(link), later) == state

    assert refused_join(fresh(link), newcomer, now=later) == str(DEAD_LINK_MESSAGES[state])

    assert newcomer.id not in member_ids(group)
    assert enrollments_of(session, newcomer) == []
    assert db.session.scalar(select(InviteLinkUse.id).where(InviteLinkUse.user_id == newcomer.id)) is None


def test_each_way_a_link_dies_has_its_own_message(app):
    messages = {state: str(DEAD_LINK_MESSAGES[state]) for state in LinkState if state != LinkState.live}

    assert len(messages) == 4 and len(set(messages.values())) == 4
    assert all(messages.values())


def test_a_platform_link_does_not_count_people_who_already_have_an_account(app, admin, make_user):
    link = make_link(actor=admin, target="platform", max_uses=1)

    outcome = join(link, make_user())

    assert not outcome.joined
    assert fresh(link).use_count == 0 and uses_of(link) == 0
    assert link_state(fresh(link), NOW) == LinkState.live


# --- newcomers: the form, then the emailed confirmation -----------------------------------


def test_a_newcomers_form_creates_no_account_but_sends_a_confirmation_link(app, admin, make_group):
    link = make_link(actor=admin, group=make_group())

    sign_up(link, "Nina@Example.com")

    assert user_of("nina@example.com") is None
    (signup,) = signups()
    assert (signup.email, signup.first_name, signup.link_id) == ("nina@example.com", "Nina", link.id)
    assert signup.expires_at == NOW + SIGNUP_VALIDITY
    (email,) = outbox(OutboxEmail.kind == "link_signup")
    assert email.recipient == "nina@example.com" and email.status == OutboxStatus.queued
    assert "/join/confirm/" in render_email(email).text
    assert find_signup(confirmation_token(email)).id == signup.id


def test_confirming_creates_the_account_with_the_links_role_and_deactivation_date_and_joins(
        app, admin, make_group, make_session):
    group = make_group()
    session = make_session(starts_at=NOW + timedelta(days=4))
    assign_group(session, group, actor=None, now=NOW)
    leaving = TODAY + timedelta(days=90)
    link = make_link(actor=admin, group=group, role="manager", deactivate_on=leaving)
    sign_up(link, "nina@example.com")
    (email,) = outbox(OutboxEmail.kind == "link_signup")

    created = confirm(confirmation_token(email), now=NOW + timedelta(hours=1), password="my-own-secret-words")

    user = user_of("nina@example.com")
    assert user.id == created.id
    assert (user.first_name, user.last_name) == ("Nina", "Newcomer")
    assert user.status == UserStatus.active and user.role == Role.manager
    assert user.deactivate_on == leaving
    assert check_password_hash(user.password_hash, "my-own-secret-words")
    assert not check_password_hash(user.password_hash, NEW_PASSWORD)
    assert member_ids(group) == {user.id}
    assert [e.status for e in enrollments_of(session, user)] == [EnrollmentStatus.invited]
    assert fresh(link).use_count == 1 and uses_of(link) == 1
    assert signups() == []


def test_a_newcomer_through_a_platform_link_counts_one_use(app, admin):
    link = make_link(actor=admin, target="platform", max_uses=5)
    sign_up(link, "solo@example.com")

    confirm(confirmation_token(outbox(OutboxEmail.kind == "link_signup")[0]))

    assert user_of("solo@example.com").status == UserStatus.active
    assert fresh(link).use_count == 1 and uses_of(link) == 1


def test_a_confirmation_link_works_once(app, admin, make_group):
    link = make_link(actor=admin, group=make_group())
    sign_up(link)
    token = confirmation_token(outbox(OutboxEmail.kind == "link_signup")[0])
    confirm(token)

    assert find_signup(token) is None
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email == "newcomer@example.com")) == 1
    assert fresh(link).use_count == 1


def test_an_expired_confirmation_link_is_refused_and_creates_no_account(app, admin, make_group):
    link = make_link(actor=admin, group=make_group())
    sign_up(link)
    token = confirmation_token(outbox(OutboxEmail.kind == "link_signup")[0])

    with pytest.raises(SignupRefused) as refused:
        confirm_signup(find_signup(token), password=NEW_PASSWORD, now=NOW + SIGNUP_VALIDITY)
    db.session.rollback()

    assert refused.value.reason == "expired"
    assert user_of("newcomer@example.com") is None
    assert fresh(link).use_count == 0


def test_the_form_with_an_existing_accounts_address_emails_its_owner_instead(app, admin, make_group, make_user):
    link = make_link(actor=admin, group=make_group())
    owner = make_user("owner@example.com")

    sign_up(link, "Owner@Example.com")

    assert signups() == []
    (email,) = outbox()
    assert (email.kind, email.recipient, email.user_id) == ("link_existing_account", "owner@example.com", owner.id)
    assert link_token(link) in render_email(email).text
    assert fresh(link).use_count == 0


def test_the_form_with_a_deactivated_accounts_address_sends_nothing(app, admin, make_group, make_user):
    link = make_link(actor=admin, group=make_group())
    make_user("gone@example.com", status=UserStatus.deactivated)

    sign_up(link, "gone@example.com")

    assert signups() == []
    assert outbox() == []


def test_the_form_refuses_an_address_outside_the_allowed_domain(app, admin, make_group):
    link = make_link(actor=admin, group=make_group(), allowed_domain="acme.example")

    with pytest.raises(DomainError, match="@acme.example") as error:
        request_signup(link, email="eve@other.example", first_name="Eve", last_name="Other",
                       language="en", now=NOW)
    db.session.rollback()

    assert error.value.field == "email"
    assert signups() == [] and outbox() == []


def test_filling_in_the_form_twice_keeps_only_the_newest_sign_up(app, admin, make_group):
    link = make_link(actor=admin, group=make_group())
    sign_up(link, "nina@example.com", first_name="Nina")
    first_token = confirmation_token(outbox(OutboxEmail.kind == "link_signup")[0])

    sign_up(link, "nina@example.com", first_name="Nine", now=NOW + timedelta(minutes=3))

    (signup,) = signups("nina@example.com")
    assert signup.first_name == "Nine"
    assert find_signup(first_token) is None
    first, second = outbox(OutboxEmail.kind == "link_signup")
    assert first.status == OutboxStatus.cancelled and second.status == OutboxStatus.queued
    user = confirm(confirmation_token(second), now=NOW + timedelta(minutes=5))
    assert user.first_name == "Nine"


def test_a_link_used_up_before_the_confirmation_refuses_it_and_leaves_no_account(
        app, admin, make_group, make_user):
    group = make_group()
    link = make_link(actor=admin, group=group, max_uses=1)
    sign_up(link, "slow@example.com")
    token = confirmation_token(outbox(OutboxEmail.kind == "link_signup")[0])
    quick = make_user("quick@example.com")
    join(link, quick)

    with pytest.raises(SignupRefused) as refused:
        confirm_signup(find_signup(token), password=NEW_PASSWORD, now=NOW + timedelta(minutes=10))
    db.session.rollback()

    assert refused.value.reason == "exhausted"
    assert user_of("slow@example.com") is None
    assert member_ids(group) == {quick.id}
    assert fresh(link).use_count == 1 and uses_of(link) == 1


def test_a_link_used_up_while_the_confirmation_joins_leaves_no_account(app, admin, make_group, make_user):
    """The last place goes between confirm_signup's look at the link and its claim: the
    conditional UPDATE refuses, and the account created a moment before goes with the rollback."""
    group = make_group()
    link = make_link(actor=admin, group=group, max_uses=1)
    sign_up(link, "slow@example.com")
    token = confirmation_token(outbox(OutboxEmail.kind == "link_signup")[0])
    quick_id, link_id, group_id = make_user("quick@example.com").id, link.id, group.id
    signup = find_signup(token)
    assert link_state(signup.link, NOW) == LinkState.live  # as confirm_signup will find it

    def quick_takes_the_last_place():
        with app.app_context():  # another request, committed meanwhile
            join_link(db.session.get(InviteLink, link_id), db.session.get(User, quick_id), now=NOW)
            db.session.commit()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(quick_takes_the_last_place).result(timeout=60)

    with pytest.raises(SignupRefused) as refused:
        confirm_signup(signup, password=NEW_PASSWORD, now=NOW + timedelta(minutes=10))
    db.session.rollback()

    assert refused.value.reason == "exhausted"
    assert user_of("slow@example.com") is None
    assert member_ids(group_id) == {quick_id}
    assert fresh(link_id).use_count == 1 and uses_of(link_id) == 1


# --- stale sign-ups -----------------------------------------------------------------------


def test_run_due_discards_sign_ups_never_confirmed_in_time(app, admin, make_group):
    link = make_link(actor=admin, group=make_group())
    sign_up(link, "stale@example.com")
    sign_up(link, "recent@example.com", now=NOW + timedelta(hours=30))

    report = run_due(now=NOW + SIGNUP_VALIDITY + timedelta(minutes=1))

    assert report["link_signups_discarded"] == 1
    assert [signup.email for signup in signups()] == ["recent@example.com"]
    (stale_email,) = outbox(OutboxEmail.recipient == "stale@example.com")
    assert stale_email.status == OutboxStatus.cancelled
    assert run_due(now=NOW + SIGNUP_VALIDITY + timedelta(minutes=2))["link_signups_discarded"] == 0


# --- maximum uses under concurrency -------------------------------------------------------


WORKERS = 16


def _join_in_own_session(link_id, user_id):
    """One click, as a web worker handles it: its own app context, session and connection.
    True: joined; False: had joined before; None: refused."""
    try:
        outcome = join_link(db.session.get(InviteLink, link_id), db.session.get(User, user_id), now=NOW)
    except DomainError:
        db.session.rollback()
        return None
    db.session.commit()
    return outcome.joined


def _join_all_at_once(app, link_id, user_ids, workers=WORKERS):
    """Every user clicks the link; the workers start together and share the clicks out.
    {user id: [what each of their clicks gave]}."""
    start = threading.Barrier(workers)

    def worker(share):
        with app.app_context():
            start.wait(timeout=60)
            return [(user_id, _join_in_own_session(link_id, user_id)) for user_id in share]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(worker, user_ids[number::workers]) for number in range(workers)]
        outcomes = {}
        for future in futures:
            for user_id, result in future.result(timeout=300):
                outcomes.setdefault(user_id, []).append(result)
        return outcomes


def test_200_simultaneous_joins_on_a_link_with_100_uses_give_exactly_100_members(app, admin, make_group):
    group_id = make_group("Popular").id
    link_id = create_link(actor=admin, now=NOW, target="group", group=db.session.get(Group, group_id),
                          max_uses=100).id
    user_ids = people(200)
    db.session.remove()

    outcomes = _join_all_at_once(app, link_id, user_ids)

    joined = {user_id for user_id, results in outcomes.items() if results == [True]}
    refused = {user_id for user_id, results in outcomes.items() if results == [None]}
    assert len(joined) == 100 and len(refused) == 100
    assert fresh(link_id).use_count == 100
    assert uses_of(link_id) == 100
    assert member_ids(group_id) == joined
    assert link_state(fresh(link_id), NOW) == LinkState.exhausted


def test_a_double_click_by_one_person_counts_one_use(app, admin, make_group, make_session, make_user):
    group = make_group()
    session = make_session()
    assign_group(session, group, actor=None, now=NOW)
    link_id = make_link(actor=admin, group=group, max_uses=5).id
    group_id, learner_id = group.id, make_user("clicker@example.com").id
    db.session.remove()

    outcomes = _join_all_at_once(app, link_id, [learner_id, learner_id], workers=2)

    assert sorted(outcomes[learner_id]) == [False, True]
    assert fresh(link_id).use_count == 1
    assert uses_of(link_id) == 1
    assert member_ids(group_id) == {learner_id}
    assert len(session_emails("clicker@example.com")) == 1


def test_lowering_the_maximum_while_people_join_never_leaves_more_uses_than_the_maximum(app, admin, make_group):
    """An admin lowers the maximum to 15 while 30 people click, once 12 have joined: either the
    edit lands while at most 15 had joined (and the link then fills up to 15), or it is refused
    naming the uses made; never a database error, never more members than the link allows."""
    link_id = make_link(actor=admin, group=make_group("Popular"), max_uses=100).id
    user_ids = people(30)
    db.session.remove()
    start, twelve_joined, lock, joined = threading.Barrier(WORKERS), threading.Event(), threading.Lock(), [0]

    def edit():
        with app.app_context():
            twelve_joined.wait(timeout=60)  # the edit lands among the clicks still coming
            try:
                update_link(db.session.get(InviteLink, link_id), actor=None, now=NOW, max_uses=15,
                            expires_on=None, allowed_domain=None)
            except DomainError as error:
                db.session.rollback()
                return error.message
            db.session.commit()
            return None

    def joins(share):
        with app.app_context():
            start.wait(timeout=60)
            results = []
            for user_id in share:
                results.append(_join_in_own_session(link_id, user_id))
                with lock:
                    joined[0] += results[-1] is True
                    if joined[0] >= 12:
                        twelve_joined.set()
            return results

    with ThreadPoolExecutor(max_workers=WORKERS + 1) as pool:
        edited = pool.submit(edit)
        clicks = [pool.submit(joins, user_ids[number::WORKERS]) for number in range(WORKERS)]
        refusal = edited.result(timeout=300)
        results = [result for click in clicks for result in click.result(timeout=300)]

    link = fresh(link_id)
    assert link.use_count == uses_of(link_id) == results.count(True)
    if refusal is None:
        assert (link.max_uses, link.use_count) == (15, 15)
    else:
        assert re.fullmatch(r"(1[6-9]|2\d|30) people have joined through this link already: the maximum uses "
                            r"cannot be 15, only \1 or more \(or no limit\)\.", refusal)
        assert (link.max_uses, link.use_count) == (100, 30)


# --- QR codes -----------------------------------------------------------------------------


def _decoded(png):
    return zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))[0].text


def test_the_qr_code_reads_back_as_the_links_address(app, admin, make_group):
    link = make_link(actor=admin, group=make_group())
    url = link_url(link)

    assert url.startswith(app.config["BASE_URL"])
    assert _decoded(qr_png(url)) == url


def test_the_qr_png_is_1200_pixels_square_unless_another_size_is_asked(app, admin, make_group):
    url = link_url(make_link(actor=admin, group=make_group()))

    assert Image.open(io.BytesIO(qr_png(url))).size == (1200, 1200)
    for size in (200, 333, 2000):
        png = qr_png(url, size=size)
        assert Image.open(io.BytesIO(png)).size == (size, size)
        assert _decoded(png) == url


def test_the_qr_svg_is_an_svg_drawing(app, admin, make_group):
    svg = qr_svg(link_url(make_link(actor=admin, group=make_group()))).decode()

    assert re.search(r"<svg\b", svg) and svg.rstrip().endswith("</svg>")
    assert re.search(r"<path\b[^>]*\sd=\"M[^\"]+\"", svg)
