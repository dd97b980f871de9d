"""The SCIM storage over the platform: scim2-server validates a request and applies PUT and PATCH
to the resource as get() returned it; each method here turns the result into service calls.

- A user created over SCIM is invited like a roster row without a password (its invitation
  email queued, unless LMS_SCIM_SEND_INVITATIONS is off); `active: false` deactivates at once
  (R6) and `true` reactivates; DELETE deactivates and hides the person from SCIM, and a later
  POST of the same person brings the account back.
- Group membership changes go through the group services, so the cascade to sessions follows
  (R2-R5), set-based: adding 5,000 members is a handful of statements.
- Every change is an audit event of the token (lms.audit.services.acting_through).
"""
from contextlib import contextmanager
from datetime import datetime

from flask import current_app
from scim2_models import (
    InvalidValueException,
    Meta,
    NotFoundException,
    ResourceType,
    UniquenessException,
)
from scim2_server.storage import ScimStorage, SearchPage
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from lms.accounts.deactivation import deactivate_user, reactivate_user
from lms.accounts.models import Role, User, UserStatus
from lms.accounts.services import (
    MAX_EXTERNAL_ID_LENGTH,
    change_email,
    check_external_id,
    check_language,
    create_user,
    find_user_by_email,
    normalize_email_or_none,
    update_user,
)
from lms.audit.services import acting_through
from lms.clock import utcnow
from lms.db_utils import as_id, chunked
from lms.enrollment.groups.models import Group, GroupMembership
from lms.enrollment.groups.services import (
    add_group_members,
    create_group,
    delete_group,
    name_key,
    remove_group_members,
    rename_group,
    sessions_using_group,
)
from lms.enrollment.invitations.services import issue_invitations, pending_invitation_user_ids
from lms.errors import AlreadyTaken, DomainError
from lms.extensions import db
from lms.scim import resources
from lms.scim.filters import group_clause, user_clause


MAX_NAME_LENGTH = 100  # users.first_name, users.last_name


def _meta(resource_type, created: datetime, changed: datetime) -> Meta:
    """meta.created, meta.lastModified, and a version that changes with it."""
    return Meta(resource_type=resource_type, created=created, last_modified=changed,
                version=f'W/"{int(changed.timestamp() * 1_000_000)}"')


def _shown(model, resource_id, kind):
    """The user or group SCIM shows under this id (not one the provider deleted)."""
    number = as_id(resource_id)
    row = db.session.get(model, number) if number is not None else None
    if row is None or row.scim_removed_at is not None:
        raise NotFoundException(detail=f"No {kind} has the id {str(resource_id)[:100]!r}.")
    return row


def _returns_members(response_parameters) -> bool:
    """Whether a response keeps `members` (Entra reads groups with excludedAttributes=members)."""
    if response_parameters is None:
        return True

    def heads(paths):  # "members", "members.value", "urn:...:Group:members" all name members
        return {str(path).lower().rsplit(":", 1)[-1].split(".")[0] for path in paths or ()}

    if response_parameters.attributes:
        return "members" in heads(response_parameters.attributes)
    return "members" not in heads(response_parameters.excluded_attributes)


class PlatformStorage(ScimStorage):
    """`token` gives the ScimToken of the request (None outside one, as in tests of the storage)."""

    def __init__(self, *, token=lambda: None, clock=utcnow):
        self.token = token
        self.clock = clock

    # -- One request: one transaction, and one audit actor -----------------------------

    @contextmanager
    def operation(self):
        token = self.token()
        try:
            if token is None:
                yield
            else:
                with acting_through(token):
                    yield
            db.session.commit()
        except IntegrityError:
            # Another request wrote the same email, userName, externalId or group name between
            # our check and our write (identity providers send requests in parallel).
            db.session.rollback()
            raise UniquenessException(detail="Another request has just given one of these unique values "
                                             "(userName, email, externalId or displayName) to someone else.") from None
        except BaseException:
            db.session.rollback()
            raise

    @property
    def send_email(self) -> bool:
        return bool(current_app.config["LMS_SCIM_SEND_INVITATIONS"])

    def get(self, resource_type: ResourceType, resource_id: str, *, response_parameters=None):
        if resource_type.name == "User":
            return self._user_resource(self._user(resource_id))
        group = self._group(resource_id)
        return self._group_resources([group], with_members=_returns_members(response_parameters))[0]

    def search(self, resource_types, search_request, *, position=None) -> SearchPage:
        """A page of the matching resources, in the database: users by id, then groups by id
        (a search at the root, /.search, covers both)."""
        queries = []
        for resource_type in resource_types:
            is_user = resource_type.name == "User"
            model = User if is_user else Group
            query = select(model).where(model.scim_removed_at.is_(None))
            if search_request.filter is not None:
                query = query.where((user_clause if is_user else group_clause)(search_request.filter))
            queries.append((is_user, query, db.session.scalar(select(func.count()).select_from(query.subquery()))))
        start = search_request.start_index_0 or 0
        room = resources.MAX_RESULTS if search_request.count is None else search_request.count
        found = []
        for is_user, query, total in queries:
            if room > 0 and start < total:
                model = User if is_user else Group
                rows = db.session.scalars(query.order_by(model.id).offset(start).limit(room)).all()
                found += [self._user_resource(user) for user in rows] if is_user else \
                    self._group_resources(rows, with_members=_returns_members(search_request))
                room -= len(rows)
            start = max(0, start - total)
        return SearchPage(sum(total for _, _, total in queries), found)

    def create(self, resource_type, resource):
        if resource_type.name == "User":
            return self._user_resource(self._create_user(resource))
        return self._group_resources([self._create_group(resource)], with_members=True)[0]

    def update(self, resource_type, resource, *, expected_version=None):
        if resource_type.name == "User":
            user = self._user(resource.id)
            self._apply_user(user, resource)
            return self._user_resource(user)
        group = self._group(resource.id)
        self._apply_group(group, resource)
        return self._group_resources([group], with_members=True)[0]

    def delete(self, resource_type, resource_id, *, expected_version=None):
        now = self.clock()
        if resource_type.name == "User":
            user = self._user(resource_id)
            deactivate_user(user, actor=None, now=now)  # R6; nothing is erased (DESIGN §7)
            user.scim_removed_at = now
            return
        group = self._group(resource_id)
        if sessions_using_group(group):  # kept for the sessions' history, emptied (R5)
            member_ids = db.session.scalars(select(GroupMembership.user_id)
                                            .where(GroupMembership.group_id == group.id)).all()
            remove_group_members(group, member_ids, actor=None, now=now)
            group.scim_removed_at, group.external_id = now, None
        else:
            delete_group(group, actor=None, now=now)

    def change_members(self, resource_id, changes: dict[str, bool], response_parameters):
        """Add and remove members of a group by id (lms.scim.service.member_changes): people to
        add must exist; removing someone who is not a member changes nothing. The group comes
        back with its members only when the response shows them (a PATCH answers 204 otherwise)."""
        group = self._group(resource_id)
        now = self.clock()
        to_add = _user_ids([value for value, wanted in changes.items() if wanted])
        to_remove = [number for value, wanted in changes.items() if not wanted and (number := as_id(value))]
        add_group_members(group, to_add, actor=None, now=now, send_email=self.send_email)  # R2
        remove_group_members(group, to_remove, actor=None, now=now)  # R5
        db.session.flush()
        shown = bool(response_parameters.attributes or response_parameters.excluded_attributes)
        return self._group_resources([group], with_members=shown and _returns_members(response_parameters))[0]

    # -- Users ------------------------------------------------------------------------

    @staticmethod
    def _user(resource_id) -> User:
        return _shown(User, resource_id, "user")

    @staticmethod
    def _user_resource(user: User):
        return resources.User(
            id=str(user.id),
            external_id=user.external_id,
            user_name=user.scim_user_name or user.email,
            name=resources.Name(given_name=user.first_name or None, family_name=user.last_name or None),
            active=user.status != UserStatus.deactivated,
            emails=[resources.Email(value=user.email)],
            meta=_meta("User", user.created_at, user.updated_at),
        )

    def _create_user(self, resource) -> User:
        now = self.clock()
        email, user_name = _identity(resource)
        holder = find_user_by_email(email)
        if holder is not None and holder.scim_removed_at is None:
            raise UniquenessException(detail=f"A user with the email {email} already exists (id {holder.id}).")
        if holder is not None:  # deleted by the provider before, and created again: the same account
            holder.scim_removed_at = None
            self._apply_user(holder, resource, now=now)
            return holder
        external_id = _external_id(resource, None)
        self._check_user_name(user_name, email, None)
        first_name, last_name = _names(resource)
        try:
            user = create_user(email, now=now, first_name=first_name, last_name=last_name,
                               language=_language(resource), status=UserStatus.invited)
        except DomainError as error:  # "already exists": a parallel request created them a moment ago
            raise _refusal(error) from None
        user.external_id = external_id
        user.scim_user_name = user_name if user_name != email else None
        if resource.active is False:
            deactivate_user(user, actor=None, now=now)
        else:
            self._invite([user], now)
        db.session.flush()
        return user

    def _apply_user(self, user: User, resource, *, now=None):
        """Make `user` what the whole new state `resource` says (PUT, PATCH, a POST bringing back
        someone deleted)."""
        now = now or self.clock()
        email, user_name = _identity(resource)
        self._check_user_name(user_name, email, user)
        try:
            change_email(user, email, actor=None, now=now)
            first_name, last_name = _names(resource)
            update_user(user, actor=None, now=now, first_name=first_name,
                        last_name=last_name, language=_language(resource) or user.language,
                        role=user.role, labels=user.labels, additional_info=user.additional_info,
                        deactivate_on=user.deactivate_on, external_id=_external_id(resource, user))
        except DomainError as error:
            raise _refusal(error) from None
        user.scim_user_name = user_name if user_name != user.email else None
        if resource.active is False:
            deactivate_user(user, actor=None, now=now)
        elif resource.active is True and reactivate_user(user, actor=None, now=now) \
                and user.status == UserStatus.invited and not pending_invitation_user_ids([user.id]):
            self._invite([user], now)  # their invitation was cancelled with the deactivation (R6)
        db.session.flush()

    @staticmethod
    def _check_user_name(user_name, email, user):
        """userName is unique among the names providers gave and the emails people have."""
        if user_name == email:
            return
        taken = db.session.scalar(select(User.id).where(User.scim_user_name == user_name)) \
            or db.session.scalar(select(User.id).where(User.email == user_name))
        if taken is not None and (user is None or taken != user.id):
            raise UniquenessException(detail=f"The userName {user_name} is already someone else's (id {taken}).")

    def _invite(self, users, now):
        issue_invitations(users, actor=None, now=now, role=Role.learner, language=users[0].language, message="",
                          send_email=self.send_email, group_names=[])

    # -- Groups -----------------------------------------------------------------------

    @staticmethod
    def _group(resource_id) -> Group:
        return _shown(Group, resource_id, "group")

    @staticmethod
    def _group_resources(groups, *, with_members):
        members = {group.id: [] for group in groups}
        if with_members and groups:
            rows = db.session.execute(
                select(GroupMembership.group_id, GroupMembership.user_id)
                .join(User, User.id == GroupMembership.user_id)
                .where(GroupMembership.group_id.in_(list(members)), User.scim_removed_at.is_(None))
                .order_by(GroupMembership.group_id, GroupMembership.user_id))
            for group_id, user_id in rows:
                members[group_id].append(resources.GroupMember(value=str(user_id), type="User", ref=f"Users/{user_id}"))
        return [
            resources.Group(
                id=str(group.id), external_id=group.external_id, display_name=group.name,
                members=members[group.id] if with_members else None,
                meta=_meta("Group", group.created_at, group.updated_at or group.created_at),
            )
            for group in groups
        ]

    def _create_group(self, resource) -> Group:
        now = self.clock()
        name = " ".join((resource.display_name or "").split())
        existing = db.session.scalar(select(Group).where(Group.name_key == name_key(name)))
        if existing is not None and existing.scim_removed_at is None:
            raise UniquenessException(detail=f"A group named {existing.name!r} already exists (id {existing.id}).")
        if existing is not None:  # deleted by the provider while sessions used it, created again
            existing.scim_removed_at = None
            self._apply_group(existing, resource, now=now)
            return existing
        member_ids = _member_ids(resource.members)
        external_id = _group_external_id(resource.external_id, None)
        try:
            group = create_group(name, actor=None, now=now)
        except DomainError as error:
            raise _refusal(error) from None
        group.external_id = external_id
        add_group_members(group, member_ids, actor=None, now=now, send_email=self.send_email)  # R2
        return group

    def _apply_group(self, group: Group, resource, *, now=None):
        now = now or self.clock()
        member_ids = set(_member_ids(resource.members))
        try:
            rename_group(group, resource.display_name or "", actor=None, now=now)
        except DomainError as error:
            raise _refusal(error) from None
        group.external_id = _group_external_id(resource.external_id, group)
        current = set(db.session.scalars(select(GroupMembership.user_id).where(GroupMembership.group_id == group.id)))
        add_group_members(group, member_ids - current, actor=None, now=now, send_email=self.send_email)  # R2
        remove_group_members(group, current - member_ids, actor=None, now=now)  # R5
        db.session.flush()


def _refusal(error: DomainError):
    """A service's refusal as SCIM says it: a value someone else has is a 409 uniqueness error,
    anything else a 400."""
    kind = UniquenessException if isinstance(error, AlreadyTaken) else InvalidValueException
    return kind(detail=str(error.message))


def _identity(resource) -> tuple[str, str]:
    """(email, userName) of a SCIM user: the email is the first of `emails` (the service put the
    primary, else the work one, first), or the userName itself when it is an email; userName is
    folded as SCIM compares it."""
    user_name = " ".join((resource.user_name or "").split()).lower()
    if not user_name or len(user_name) > 255:
        raise InvalidValueException(detail="userName is required, and has at most 255 characters.")
    for candidate in [email.value for email in resource.emails or [] if email.value] + [user_name]:
        email = normalize_email_or_none(str(candidate))
        if email is not None:
            return email, user_name
    raise InvalidValueException(detail=f"{user_name!r} is not an email address and emails holds none: the "
                                       "platform needs each person's email.")


def _names(resource) -> tuple[str, str]:
    names = resource.name or resources.Name()
    given, family = (" ".join((name or "").split()) for name in (names.given_name, names.family_name))
    if len(given) > MAX_NAME_LENGTH or len(family) > MAX_NAME_LENGTH:
        raise InvalidValueException(detail=f"name.givenName and name.familyName have at most {MAX_NAME_LENGTH} "
                                           "characters each.")
    return given, family


def _language(resource) -> str | None:
    """preferredLanguage, else locale, when the platform has that language (or a regional form of
    it, nl-BE); None otherwise: a language the platform lacks is no reason to refuse a person."""
    unknown = {key.lower(): value for key, value in (getattr(resource, "unknown_attributes", None) or {}).items()}
    for tag in (unknown.get("preferredlanguage"), unknown.get("locale")):
        if isinstance(tag, str) and tag.strip():
            try:
                return check_language(tag.strip().replace("_", "-"))
            except DomainError:
                continue
    return None


def _employee_number(resource):
    unknown = getattr(resource, "unknown_attributes", None) or {}
    for key, value in unknown.items():
        if key.lower() == resources.ENTERPRISE_USER_SCHEMA.lower() and isinstance(value, dict):
            number = next((item for name, item in value.items() if name.lower() == "employeenumber"), None)
            return str(number) if number not in (None, "") else None
    return None


def _external_id(resource, user):
    """externalId, else the enterprise extension's employeeNumber; None (the account's is
    cleared) when neither is given: a PATCH that removes externalId, a PUT without it."""
    raw = resource.external_id or _employee_number(resource)
    if not raw:
        return None
    try:
        return check_external_id(raw, user=user)
    except DomainError as error:
        raise _refusal(error) from None


def _group_external_id(raw, group):
    external_id = (raw or "").strip() or None
    if external_id is None:
        return None
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise InvalidValueException(detail=f"externalId has at most {MAX_EXTERNAL_ID_LENGTH} characters.")
    holder = db.session.scalar(select(Group.id).where(Group.external_id == external_id))
    if holder is not None and (group is None or holder != group.id):
        raise UniquenessException(detail=f"The externalId {external_id} is already group {holder}'s.")
    return external_id


def _member_ids(members) -> list[int]:
    """The user ids of `members`, each one a person SCIM shows; nested groups are refused."""
    if any(member.type and str(member.type).lower() != "user" for member in members or []):
        raise InvalidValueException(detail="Groups hold people only: nested groups are not supported.")
    return _user_ids([member.value for member in members or []])


def _user_ids(values) -> list[int]:
    """The ids these SCIM ids name, each one a person SCIM shows; InvalidValue naming the others."""
    wanted = {}
    for value in values:
        value = str(value or "")
        number = as_id(value)
        if number is None:
            raise InvalidValueException(detail=f"No user has the id {value!r}.")
        wanted[number] = value
    found = set()
    for batch in chunked(sorted(wanted)):
        found.update(db.session.scalars(select(User.id).where(User.id.in_(batch), User.scim_removed_at.is_(None))))
    missing = sorted(set(wanted) - found)
    if missing:
        shown = ", ".join(wanted[number] for number in missing[:5])
        raise InvalidValueException(detail=f"No user has the id {shown}" + (" (and more)" if len(missing) > 5 else "")
                                    + ".")
    return sorted(wanted)
