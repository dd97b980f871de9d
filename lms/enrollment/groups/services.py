"""Groups and their members. Public ids are what admins paste into rosters."""
import secrets

from sqlalchemy import delete, func, or_, select

from lms.accounts.models import User
from lms.accounts.services import USER_ORDER, user_search_query
from lms.audit.services import record_event
from lms.db_utils import as_ids, chunked, insert_ignoring_conflicts
from lms.enrollment.groups.models import Group, GroupMembership
from lms.errors import AlreadyTaken, DomainError, NotFound
from lms.extensions import db
from lms.programs.cascade import on_group_members_added, on_group_members_removed
from lms.programs.models import SessionGroup

# No 0/O, 1/I/L: public ids are read aloud and retyped.
PUBLIC_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
MAX_GROUP_NAME = 120


def new_public_id() -> str:
    return "G-" + "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(6))


def name_key(name: str) -> str:
    return name.casefold()


def _clean_name(name: str, *, excluding: Group | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise DomainError("Enter a group name.", field="name")
    if len(name) > MAX_GROUP_NAME:
        raise DomainError(f"A group name has at most {MAX_GROUP_NAME} characters.", field="name")
    query = select(Group.id).where(Group.name_key == name_key(name))
    if excluding is not None:
        query = query.where(Group.id != excluding.id)
    if db.session.scalar(query) is not None:
        raise AlreadyTaken(f"A group named {name!r} already exists.", field="name")
    return name


def create_group(name: str, *, actor, now) -> Group:
    name = _clean_name(name)
    public_id = new_public_id()
    while db.session.scalar(select(Group.id).where(Group.public_id == public_id)):
        public_id = new_public_id()
    group = Group(name=name, name_key=name_key(name), public_id=public_id, created_at=now)
    db.session.add(group)
    db.session.flush()
    record_event(actor, "group.created", "group", group.id, now=now, name=name)
    return group


def rename_group(group: Group, name: str, *, actor, now) -> Group:
    name = _clean_name(name, excluding=group)
    if name != group.name:
        record_event(actor, "group.renamed", "group", group.id, now=now, old=group.name, new=name)
        group.name = name
        group.name_key = name_key(name)
        group.updated_at = now
        db.session.flush()
    return group


def open_to_trainers(group: Group, is_open: bool, *, actor, now) -> Group:
    """Let managers add the group to the sessions they manage, or stop them (sessions that have
    it keep it)."""
    if group.open_to_trainers != is_open:
        record_event(actor, "group.opened_to_trainers" if is_open else "group.closed_to_trainers",
                     "group", group.id, now=now)
        group.open_to_trainers = is_open
        db.session.flush()
    return group


def sessions_using_group(group: Group) -> int:
    return db.session.scalar(
        select(func.count()).select_from(SessionGroup).where(SessionGroup.group_id == group.id)
    )


def delete_group(group: Group, *, actor, now):
    """Delete a group; refused while a session's registration uses it (remove it there first)."""
    in_use = sessions_using_group(group)
    if in_use:
        raise DomainError(
            f"The group {group.name!r} is assigned to {in_use} session(s); "
            "remove it from their registration before deleting it."
        )
    record_event(actor, "group.deleted", "group", group.id, now=now, name=group.name)
    db.session.delete(group)
    db.session.flush()


def find_group(reference) -> Group:
    """A group by database id, public id or exact name (the CLI's and rosters' ways to name one)."""
    group = resolve_groups([reference]).get(str(reference).strip())
    if group is None:
        raise NotFound(f"No group with the id or name {str(reference).strip()!r}.")
    return group


def resolve_groups(references) -> dict:
    """{reference: Group or None} for many references in one query: a public id (any case),
    an exact name, or a database id, preferred in that order."""
    references = {str(reference).strip() for reference in references if str(reference).strip()}
    if not references:
        return {}
    ids = as_ids(references)
    found = db.session.scalars(select(Group).where(or_(
        Group.public_id.in_([reference.upper() for reference in references]), Group.name.in_(references),
        Group.id.in_(ids)))).all()
    by_public_id = {group.public_id: group for group in found}
    by_name = {group.name: group for group in found}
    by_id = {str(group.id): group for group in found}
    return {reference: by_public_id.get(reference.upper()) or by_name.get(reference) or by_id.get(reference)
            for reference in references}


def add_group_members(group: Group, user_ids, *, actor, now, send_email=True) -> int:
    """Add users to a group (set-based; users already in it are left alone). Returns how many joined."""
    user_ids = set(user_ids)
    added = 0
    for batch in chunked(user_ids):
        existing_users = set(db.session.scalars(select(User.id).where(User.id.in_(batch))))
        already = set(
            db.session.scalars(
                select(GroupMembership.user_id).where(
                    GroupMembership.group_id == group.id, GroupMembership.user_id.in_(batch)
                )
            )
        )
        new_ids = sorted(existing_users - already)
        insert_ignoring_conflicts(
            GroupMembership,
            [
                {"group_id": group.id, "user_id": user_id, "added_by_id": actor.id if actor else None,
                 "created_at": now}
                for user_id in new_ids
            ],
        )
        added += len(new_ids)
        on_group_members_added(group.id, new_ids, now=now, send_email=send_email)  # R2
    if added:
        group.updated_at = now
        record_event(actor, "group.members_added", "group", group.id, now=now, count=added)
    return added


def remove_group_member(group: Group, user: User, *, actor, now) -> bool:
    removed = _take_out(group, [user.id], now=now)
    if removed:
        record_event(actor, "group.member_removed", "group", group.id, now=now, user_id=user.id)
    return bool(removed)


def remove_group_members(group: Group, user_ids, *, actor, now) -> int:
    """Take many people out of a group (set-based, R5 for all of them at once); returns how
    many were members."""
    removed = _take_out(group, user_ids, now=now)
    if removed:
        record_event(actor, "group.members_removed", "group", group.id, now=now, count=len(removed))
    return len(removed)


def _take_out(group: Group, user_ids, *, now) -> list[int]:
    """Delete these people's memberships of `group` and cancel what only it kept for them (R5);
    returns the ids of those who were members."""
    removed = []
    for batch in chunked(sorted(set(user_ids))):
        members = db.session.scalars(select(GroupMembership.user_id).where(
            GroupMembership.group_id == group.id, GroupMembership.user_id.in_(batch))).all()
        if members:
            db.session.execute(delete(GroupMembership).where(
                GroupMembership.group_id == group.id, GroupMembership.user_id.in_(members)))
            removed += members
    if removed:
        group.updated_at = now
        on_group_members_removed(group.id, removed, now=now)  # R5
    return removed


def set_user_groups(user: User, group_ids, *, actor, now) -> bool:
    """Make `user` a member of exactly these groups (the user page's checkboxes)."""
    wanted = set(group_ids)
    current = set(
        db.session.scalars(select(GroupMembership.group_id).where(GroupMembership.user_id == user.id))
    )
    for group in db.session.scalars(select(Group).where(Group.id.in_(wanted - current))):
        add_group_members(group, [user.id], actor=actor, now=now)
    for group in db.session.scalars(select(Group).where(Group.id.in_(current - wanted))):
        remove_group_member(group, user, actor=actor, now=now)
    return wanted != current


def groups_with_counts():
    """Every group with its member and session counts, for the groups page and `groups list`."""
    members = (
        select(func.count()).where(GroupMembership.group_id == Group.id).scalar_subquery()
    )
    sessions = select(func.count()).where(SessionGroup.group_id == Group.id).scalar_subquery()
    return db.session.execute(
        select(Group, members.label("member_count"), sessions.label("session_count")).order_by(
            Group.name_key
        )
    ).all()


def group_names_by_user(user_ids) -> dict[int, list[str]]:
    names: dict[int, list[str]] = {}
    for batch in chunked(user_ids):
        rows = db.session.execute(
            select(GroupMembership.user_id, Group.name)
            .join(Group, Group.id == GroupMembership.group_id)
            .where(GroupMembership.user_id.in_(batch))
            .order_by(Group.name_key)
        )
        for user_id, name in rows:
            names.setdefault(user_id, []).append(name)
    return names


LARGE_GROUP = 10_000  # members from which a page of them is read by walking the name order


def member_query(group: Group, *, large=None):
    """The group's members in name order. A group of thousands is read by walking the users'
    name order (ix_users_name_order) and checking each for membership, so a page costs about a
    page, where joining then sorting would sort the whole membership; a smaller group is joined
    and sorted (walking would pass by most of the platform). `large` None: count to decide."""
    if large is None:
        large = db.session.scalar(select(func.count()).select_from(
            select(GroupMembership.user_id).where(GroupMembership.group_id == group.id)
            .limit(LARGE_GROUP + 1).subquery())) > LARGE_GROUP
    if large:
        member = select(GroupMembership.user_id).where(GroupMembership.group_id == group.id,
                                                       GroupMembership.user_id == User.id)
        return select(User).where(member.exists()).order_by(*USER_ORDER)
    return (
        select(User)
        .join(GroupMembership, GroupMembership.user_id == User.id)
        .where(GroupMembership.group_id == group.id)
        .order_by(*USER_ORDER)
    )


def candidate_query(group: Group, q: str):
    """Users not yet in `group` whose name or email matches `q` (the add-member search)."""
    in_group = select(GroupMembership.user_id).where(GroupMembership.group_id == group.id)
    return user_search_query(q).where(User.id.not_in(in_group))
