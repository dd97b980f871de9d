"""Group services (lms.enrollment.groups.services): names, public ids, members, deletion, audit trail."""
import re

import pytest
from sqlalchemy import func, select

from lms.accounts.models import User
from lms.audit.models import AuditEvent
from lms.enrollment.groups.models import Group, GroupMembership
from lms.enrollment.groups.services import (
    MAX_GROUP_NAME,
    add_group_members,
    create_group,
    delete_group,
    find_group,
    groups_with_counts,
    remove_group_member,
    rename_group,
    set_user_groups,
)
from lms.errors import DomainError, NotFound
from lms.extensions import db
from lms.programs.models import SessionGroup

# "G-" and six characters, none of which can be misread (no 0/O, 1/I/L).
PUBLIC_ID = re.compile(r"G-[2-9A-HJKMNP-Z]{6}")


def member_ids(group_id):
    return set(
        db.session.scalars(
            select(GroupMembership.user_id).where(GroupMembership.group_id == group_id)
        )
    )


def group_count():
    return db.session.scalar(select(func.count()).select_from(Group))


def assign_to_session(group, session, now):
    db.session.add(SessionGroup(session_id=session.id, group_id=group.id, created_at=now))
    db.session.commit()


# --- create -------------------------------------------------------------------------------


def test_a_new_group_gets_a_short_public_id_that_can_be_read_aloud(app, admin, now):
    group = create_group("Sales North", actor=admin, now=now)
    db.session.commit()

    db.session.expire_all()
    stored = db.session.get(Group, group.id)
    assert stored.name == "Sales North"
    assert PUBLIC_ID.fullmatch(stored.public_id), stored.public_id
    assert stored.created_at == now


def test_public_ids_are_unique(app, now):
    groups = [create_group(f"Team {number}", actor=None, now=now) for number in range(40)]
    db.session.commit()

    public_ids = {group.public_id for group in groups}
    assert len(public_ids) == 40
    assert all(PUBLIC_ID.fullmatch(public_id) for public_id in public_ids)


def test_whitespace_in_a_new_name_is_collapsed(app, now):
    group = create_group("  Sales \t  North \n", actor=None, now=now)

    assert group.name == "Sales North"


@pytest.mark.parametrize("duplicate",
                         ["Sales North", "sales north", "SALES  NORTH", " Sales North "])
def test_a_name_already_taken_is_refused_whatever_its_case(app, make_group, now, duplicate):
    make_group("Sales North")

    with pytest.raises(DomainError, match="already exists") as error:
        create_group(duplicate, actor=None, now=now)
    assert error.value.field == "name"
    db.session.rollback()
    assert group_count() == 1


@pytest.mark.parametrize("first, duplicate", [
    ("Équipe Nord", "Équipe Nord"),
    ("Équipe Nord", "ÉQUIPE NORD"),
])
def test_a_non_ascii_name_already_taken_is_refused_as_a_form_error(app, make_group, now,
                                                                    first, duplicate):
    make_group(first)

    with pytest.raises(DomainError, match="already exists") as error:
        create_group(duplicate, actor=None, now=now)
    assert error.value.field == "name"
    db.session.rollback()
    assert group_count() == 1


@pytest.mark.parametrize("blank", ["", "   ", "\t\n", None])
def test_a_blank_name_is_refused(app, now, blank):
    with pytest.raises(DomainError, match="Enter a group name") as error:
        create_group(blank, actor=None, now=now)

    assert error.value.field == "name"
    assert group_count() == 0


def test_a_name_longer_than_the_limit_is_refused_and_one_at_the_limit_accepted(app, now):
    with pytest.raises(DomainError, match=f"at most {MAX_GROUP_NAME} characters") as error:
        create_group("x" * (MAX_GROUP_NAME + 1), actor=None, now=now)
    assert error.value.field == "name"

    group = create_group("x" * MAX_GROUP_NAME, actor=None, now=now)
    db.session.commit()
    assert len(group.name) == MAX_GROUP_NAME
    assert group_count() == 1


def test_the_length_limit_applies_after_whitespace_is_collapsed(app, now):
    padded = "  " + "a" * (MAX_GROUP_NAME - 2) + "     b  "

    group = create_group(padded, actor=None, now=now)

    assert group.name == "a" * (MAX_GROUP_NAME - 2) + " b"


# --- rename -------------------------------------------------------------------------------


def test_rename_changes_the_name_and_collapses_whitespace(app, make_group, now):
    group = make_group("Sales North")

    rename_group(group, "  Sales   North-East ", actor=None, now=now)
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(Group, group.id).name == "Sales North-East"


@pytest.mark.parametrize("same", ["Sales North", "sales north", " Sales  North "])
def test_renaming_a_group_to_its_own_name_is_fine(app, make_group, now, same):
    group = make_group("Sales North")

    rename_group(group, same, actor=None, now=now)
    db.session.commit()

    assert db.session.get(Group, group.id).name.lower() == "sales north"
    assert group_count() == 1


@pytest.mark.parametrize("name, message", [
    ("New Hires", "already exists"),
    ("new  HIRES", "already exists"),
    ("   ", "Enter a group name"),
    ("y" * (MAX_GROUP_NAME + 1), f"at most {MAX_GROUP_NAME} characters"),
])
def test_rename_refuses_what_create_refuses_and_keeps_the_old_name(app, make_group, now,
                                                                   name, message):
    group = make_group("Sales North")
    make_group("New Hires")

    with pytest.raises(DomainError, match=message) as error:
        rename_group(group, name, actor=None, now=now)
    assert error.value.field == "name"

    db.session.rollback()
    assert db.session.get(Group, group.id).name == "Sales North"


# --- delete -------------------------------------------------------------------------------


def test_a_group_used_by_a_session_cannot_be_deleted(app, make_group, make_session, make_user,
                                                     now):
    member = make_user()
    group = make_group("Sales North", members=[member])
    assign_to_session(group, make_session(), now)

    with pytest.raises(DomainError) as error:
        delete_group(group, actor=None, now=now)
    assert "Sales North" in error.value.message
    assert "1 session" in error.value.message

    db.session.rollback()
    assert db.session.get(Group, group.id) is not None
    assert member_ids(group.id) == {member.id}


def test_deleting_a_group_deletes_its_memberships_but_not_the_users(app, make_group, make_user,
                                                                    now):
    members = [make_user(), make_user()]
    group = make_group("Sales North", members=members)
    group_id = group.id
    other = make_group("Other", members=members)

    delete_group(group, actor=None, now=now)
    db.session.commit()

    db.session.expire_all()
    assert db.session.get(Group, group_id) is None
    assert member_ids(group_id) == set()
    assert member_ids(other.id) == {member.id for member in members}
    assert db.session.scalar(select(func.count()).select_from(User)) == 2


def test_a_group_created_after_a_deletion_starts_without_members(app, make_group, make_user, now):
    group = make_group("Old team", members=[make_user(), make_user()])
    delete_group(group, actor=None, now=now)
    db.session.commit()

    new_group = make_group("New team")

    assert member_ids(new_group.id) == set()


def test_a_group_can_be_deleted_once_no_session_uses_it_any_more(app, make_group, make_session,
                                                                 now):
    group = make_group("Sales North")
    assign_to_session(group, make_session(), now)
    db.session.execute(SessionGroup.__table__.delete())
    db.session.commit()

    delete_group(group, actor=None, now=now)
    db.session.commit()

    assert group_count() == 0


# --- find ---------------------------------------------------------------------------------


def test_find_group_by_id_public_id_in_any_case_or_exact_name(app, make_group):
    group = make_group("Sales North")
    make_group("New hires")

    assert find_group(group.id) is group
    assert find_group(str(group.id)) is group
    assert find_group(group.public_id) is group
    assert find_group(group.public_id.lower()) is group
    assert find_group(f"  {group.public_id}  ") is group
    assert find_group("Sales North") is group


@pytest.mark.parametrize("reference", ["Nobody", "G-ZZZZZZ", "999999", ""])
def test_find_group_raises_not_found_for_anything_else(app, make_group, reference):
    make_group("Sales North")

    with pytest.raises(NotFound):
        find_group(reference)


# --- members ------------------------------------------------------------------------------


def test_adding_members_adds_only_existing_users_and_counts_those_who_joined(app, make_group,
                                                                          make_user, now):
    group = make_group("Sales North")
    alice, bob = make_user(), make_user()

    added = add_group_members(group, [alice.id, bob.id, bob.id, 999_999], actor=None, now=now)
    db.session.commit()

    assert added == 2
    assert member_ids(group.id) == {alice.id, bob.id}


def test_adding_the_same_member_twice_gives_one_membership(app, make_group, make_user, now):
    group = make_group("Sales North")
    alice = make_user()

    assert add_group_members(group, [alice.id], actor=None, now=now) == 1
    db.session.commit()
    assert add_group_members(group, [alice.id], actor=None, now=now) == 0
    db.session.commit()

    memberships = select(func.count()).select_from(GroupMembership)
    assert db.session.scalar(memberships.where(GroupMembership.group_id == group.id)) == 1


def test_removing_a_member_leaves_the_user_and_the_other_members(app, make_group, make_user, now):
    alice, bob = make_user(), make_user()
    group = make_group("Sales North", members=[alice, bob])

    assert remove_group_member(group, alice, actor=None, now=now) is True
    db.session.commit()
    assert remove_group_member(group, alice, actor=None, now=now) is False

    assert member_ids(group.id) == {bob.id}
    assert db.session.get(User, alice.id) is not None


def test_set_user_groups_makes_the_user_a_member_of_exactly_those_groups(app, make_group,
                                                                        make_user, now):
    user, other = make_user(), make_user()
    north = make_group("North", members=[user, other])
    south = make_group("South", members=[user])
    east = make_group("East")

    assert set_user_groups(user, [south.id, east.id], actor=None, now=now) is True
    db.session.commit()

    assert member_ids(north.id) == {other.id}
    assert member_ids(south.id) == {user.id}
    assert member_ids(east.id) == {user.id}
    assert set_user_groups(user, [south.id, east.id], actor=None, now=now) is False


def test_groups_with_counts_counts_members_and_sessions_ordered_by_name(app, make_group,
                                                                       make_user, make_session,
                                                                       now):
    users = [make_user() for _ in range(3)]
    north = make_group("sales North", members=users)
    make_group("New hires", members=users[:1])
    make_group("Alumni")
    assign_to_session(north, make_session(), now)
    assign_to_session(north, make_session(), now)

    rows = [(group.name, members, sessions) for group, members, sessions in groups_with_counts()]

    assert rows == [("Alumni", 0, 0), ("New hires", 1, 0), ("sales North", 3, 2)]


# --- audit trail --------------------------------------------------------------------------


def test_group_changes_are_recorded_in_the_audit_trail(app, admin, make_user, now):
    alice = make_user()

    group = create_group("Sales North", actor=admin, now=now)
    add_group_members(group, [alice.id], actor=admin, now=now)
    rename_group(group, "Sales North-East", actor=admin, now=now)
    remove_group_member(group, alice, actor=admin, now=now)
    group_id = group.id
    delete_group(group, actor=admin, now=now)
    db.session.commit()

    recorded = db.session.scalars(
        select(AuditEvent).where(AuditEvent.target_type == "group").order_by(AuditEvent.id)
    ).all()
    assert [event.action for event in recorded] == [
        "group.created",
        "group.members_added",
        "group.renamed",
        "group.member_removed",
        "group.deleted",
    ]
    assert {(event.actor_id, event.target_id, event.created_at) for event in recorded} == {
        (admin.id, group_id, now)
    }
    created, added, renamed, removed, deleted = recorded
    assert created.details == {"name": "Sales North"}
    assert added.details == {"count": 1}
    assert renamed.details == {"old": "Sales North", "new": "Sales North-East"}
    assert removed.details == {"user_id": alice.id}
    assert deleted.details == {"name": "Sales North-East"}


def test_changes_that_change_nothing_record_no_event(app, admin, make_group, make_user, now):
    alice, bob = make_user(), make_user()
    group = make_group("Sales North", members=[alice])
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))

    add_group_members(group, [alice.id], actor=admin, now=now)
    remove_group_member(group, bob, actor=admin, now=now)
    rename_group(group, "Sales North", actor=admin, now=now)
    db.session.commit()

    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before
