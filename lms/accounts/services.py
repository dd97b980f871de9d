"""Users: creation, sign-in, profile edits, search. Deactivation (R6) is lms.accounts.deactivation."""
from datetime import date
from functools import cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from lms.accounts.models import Role, User, UserLabel, UserStatus
from lms.audit.services import record_event
from lms.clock import LATEST_DATE, platform_today
from lms.enrollment.groups.models import GroupMembership
from lms.errors import AlreadyTaken, DomainError
from lms.extensions import db
from lms.languages import language_tag

MIN_PASSWORD_LENGTH = 8
MAX_LABEL_LENGTH = 100
MAX_EXTERNAL_ID_LENGTH = 255  # users.external_id, and the roster's external_id column

@cache
def _dummy_hash():
    """A hash to check wrong passwords against when there is no account (so both cost the
    same); made on first use, not at import, where it cost every process start 0.1 s."""
    return generate_password_hash("not-a-real-password")


def normalize_email(raw: str) -> str:
    """A syntactically valid email, normalised and lower-cased; DomainError otherwise."""
    raw = (raw or "").strip()
    if not raw:
        raise DomainError(_l("Enter an email address."), field="email")
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        raise DomainError(_l("“%(address)s” is not a valid email address.", address=raw), field="email") from None
    return result.normalized.lower()


def normalize_email_or_none(raw) -> str | None:
    """The address normalised as normalize_email does, or None when it is not one."""
    try:
        return normalize_email(raw)
    except DomainError:
        return None


def parse_labels(raw: str) -> list[str]:
    """Labels from text separated by `|` or commas: trimmed, empty ones dropped, duplicates once."""
    seen = {}
    if isinstance(raw, (list, tuple)):  # a form posted without the field keeps the user's own list
        raw = "|".join(raw)
    for part in (raw or "").replace(",", "|").split("|"):
        label = part.strip()
        if label:
            if len(label) > MAX_LABEL_LENGTH:
                raise DomainError(
                    f"Label {label[:20]!r}... is longer than {MAX_LABEL_LENGTH} characters.",
                    field="labels",
                )
            seen.setdefault(label.casefold(), label)
    return sorted(seen.values(), key=str.casefold)


def check_language(language: str) -> str:
    """A supported language, or a regional form of one ('nl-BE'), in BCP 47 form; DomainError otherwise."""
    supported = current_app.config["LMS_LANGUAGES"]
    if language in supported:
        return language
    try:
        return language_tag(language or "", supported)
    except ValueError:
        raise DomainError(
            f"Unknown language {language!r}; supported: {', '.join(supported)}.", field="language"
        ) from None


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def check_external_id(raw, *, user=None) -> str | None:
    """The HR system's id for `user` (DESIGN §2, §4): trimmed, empty means none, at most
    MAX_EXTERNAL_ID_LENGTH characters, no control characters, held by nobody else."""
    external_id = (raw or "").strip()
    if not external_id:
        return None
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise DomainError(f"An external id has at most {MAX_EXTERNAL_ID_LENGTH} characters; "
                          f"this one has {len(external_id)}.", field="external_id")
    if any(ord(char) < 32 or ord(char) == 127 for char in external_id):
        raise DomainError("An external id cannot hold tabs, line breaks or other control characters.",
                          field="external_id")
    holder = db.session.scalar(select(User).where(User.external_id == external_id))
    if holder is not None and holder is not user:
        raise _external_id_taken(external_id, holder.email)
    return external_id


def _external_id_taken(external_id, email):
    return AlreadyTaken(f"{external_id} is already the external id of {email}.", field="external_id")


def _external_id_holder(external_id):
    """(id, email) of who holds `external_id` as committed now, or None; read on a connection of
    its own, as the session's transaction is unusable after the failed flush that asks."""
    with db.engine.connect() as connection:
        return connection.execute(select(User.id, User.email).where(User.external_id == external_id)).first()


def hash_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise DomainError(
            _l("The password must be at least %(count)d characters long.", count=MIN_PASSWORD_LENGTH),
            field="password",
        )
    return generate_password_hash(password)


def check_deactivation_date(day, *, now):
    """A deactivation date is in the future (platform time zone); None means never."""
    if day is not None and day <= platform_today(now):
        raise DomainError(
            "Choose a date after today; to deactivate an account now, use Deactivate on its page.",
            field="deactivate_on",
        )
    if day is not None and day > LATEST_DATE:
        raise DomainError(f"Choose a date up to {LATEST_DATE:%Y-%m-%d}.", field="deactivate_on")
    return day


def create_user(
    email,
    *,
    now,
    actor=None,
    first_name="",
    last_name="",
    role=Role.learner,
    status=UserStatus.invited,
    password=None,
    language=None,
    labels=(),
    additional_info="",
    deactivate_on=None,
):
    email = normalize_email(email)
    if find_user_by_email(email) is not None:
        raise AlreadyTaken(f"A user with the email {email} already exists.", field="email")
    user = User(
        email=email,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        role=Role(role),
        status=UserStatus(status),
        password_hash=hash_password(password) if password else None,
        language=check_language(language or current_app.config["LMS_DEFAULT_LANGUAGE"]),
        additional_info=additional_info,
        deactivate_on=check_deactivation_date(deactivate_on, now=now),
        created_at=now,
        updated_at=now,
    )
    user.label_rows = [UserLabel(label=label) for label in labels]
    db.session.add(user)
    db.session.flush()
    record_event(actor, "user.created", "user", user.id, now=now, email=email)
    return user


def authenticate(email: str, password: str, *, now) -> User:
    """The user with these credentials, signed in at `now`; DomainError otherwise.

    Unknown email, no password yet and wrong password get the same message and cost the same
    time, so the form does not tell whether an account exists.
    """
    user = find_user_by_email(email or "")
    wrong = DomainError(_l("Wrong email or password."))
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(), password or "")
        raise wrong
    if not check_password_hash(user.password_hash, password or ""):
        raise wrong
    if user.status == UserStatus.deactivated or user.deactivation_has_come(platform_today(now)):
        raise DomainError(_l("This account has been deactivated. Ask your administrator to reactivate it."))
    if not user.is_active:
        raise wrong
    user.last_login_at = now
    return user


def update_user(
    user: User,
    *,
    actor,
    now,
    first_name: str,
    last_name: str,
    language: str,
    role: Role,
    labels: list[str],
    additional_info: str,
    deactivate_on: date | None,
    external_id: str | None,
    must_change_password: bool | None = None,
):
    """Edit a user's profile; returns the names of the fields that changed. `must_change_password`
    None leaves the flag as it is. `external_id` empty or None clears it; one that someone else holds is a DomainError naming them, also
    when another transaction gave it to them a moment ago (the unique constraint says so)."""
    role = Role(role)
    if deactivate_on != user.deactivate_on:
        check_deactivation_date(deactivate_on, now=now)
    external_id = check_external_id(external_id, user=user)
    themselves = actor is not None and user.id == actor.id  # None: an identity provider (SCIM)
    if themselves and role != user.role:
        raise DomainError("You cannot change your own role.", field="role")
    if deactivate_on is not None and themselves:
        raise DomainError("You cannot schedule your own deactivation.", field="deactivate_on")
    new_values = {
        "first_name": (first_name or "").strip(),  # a form posted without a field gives None
        "last_name": (last_name or "").strip(),
        "language": language if language == user.language else check_language(language),
        "role": role,
        "additional_info": (additional_info or "").strip(),
        "deactivate_on": deactivate_on,
        "external_id": external_id,
    }
    if must_change_password is not None:
        new_values["must_change_password"] = bool(must_change_password)
    old_role = user.role
    changed = [name for name, value in new_values.items() if getattr(user, name) != value]
    if set(labels) != set(user.labels):
        changed.append("labels")
    if not changed:
        return changed
    for name in changed:
        if name != "labels":
            setattr(user, name, new_values[name])
    if "labels" in changed:
        user.label_rows = [UserLabel(label=label) for label in labels]
    user.updated_at = now
    user_id = user.id
    try:
        db.session.flush()
    except IntegrityError:  # another request gave this external id to someone between check and write
        holder = _external_id_holder(external_id) if "external_id" in changed and external_id else None
        if holder is None or holder.id == user_id:
            raise
        raise _external_id_taken(external_id, holder.email) from None
    details = {"role": {"from": old_role.value, "to": role.value}} if "role" in changed else {}
    record_event(actor, "user.updated", "user", user.id, now=now, fields=changed, **details)
    return changed


def change_email(user: User, email: str, *, actor, now) -> bool:
    """Give `user` another email (an identity provider renamed them); refused when someone else
    has it. Their sign-in and the links already sent to them go on working."""
    email = normalize_email(email)
    if email == user.email:
        return False
    holder = find_user_by_email(email)
    if holder is not None and holder.id != user.id:
        raise AlreadyTaken(f"A user with the email {email} already exists.", field="email")
    old = user.email
    user.email = email
    user.updated_at = now
    db.session.flush()
    record_event(actor, "user.updated", "user", user.id, now=now, fields=["email"], old_email=old)
    return True


# The order people are listed in: by last name, first name, then email, ignoring case (the
# index ix_users_name_order serves it).
USER_ORDER = (func.lower(User.last_name), func.lower(User.first_name), User.email)


def _prefix(column, word):
    """`column` starts with `word`: a range an index on `column` serves (both backends), and
    LIKE to be exact whatever the collation orders between the bounds."""
    upper = word[:-1] + chr(ord(word[-1]) + 1)
    return and_(column >= word, column < upper, column.startswith(word, autoescape=True))


def words_match(q):
    """Every word of `q` starts the first name, the last name or the email (names compared in
    lower case); a word with "@" in it is looked for anywhere in the email (a domain)."""
    conditions = []
    for word in (q or "").lower().split():
        if "@" in word:
            conditions.append(User.email.contains(word, autoescape=True))
        else:
            conditions.append(or_(_prefix(User.email, word), _prefix(func.lower(User.first_name), word),
                                  _prefix(func.lower(User.last_name), word)))
    return and_(*conditions)


def user_search_query(q="", status=None, role=None, group_id=None):
    """The users admin table: search on the start of names and email, a domain, or an exact
    external id; filters; ordered by name."""

    query = select(User)
    q = (q or "").strip()
    if q:
        query = query.where(or_(User.external_id == q, words_match(q)))  # an exact external id: its unique index
    if status:
        query = query.where(User.status == UserStatus(status))
    if role:
        query = query.where(User.role == Role(role))
    if group_id:
        query = query.where(
            User.id.in_(select(GroupMembership.user_id).where(GroupMembership.group_id == group_id))
        )
    return query.order_by(*USER_ORDER)


def change_password(user: User, *, current_password: str, new_password: str, now):
    if not user.password_hash or not check_password_hash(user.password_hash, current_password or ""):
        raise DomainError(_l("The current password is not right."), field="current_password")
    try:
        user.password_hash = hash_password(new_password)
    except DomainError as error:
        raise DomainError(error.message, field="new_password") from None
    user.must_change_password = False
    user.end_sessions()  # other devices sign in again with the new password
    user.updated_at = now
    record_event(user, "user.password_changed", "user", user.id, now=now)


def choose_own_password(user: User, *, password: str, now):
    """A person asked to change their password at sign-in (a temporary one, or an admin's
    request) chooses their own: not the one they have."""
    if user.password_hash and check_password_hash(user.password_hash, password or ""):
        raise DomainError(_l("This is the password you have now: choose another one."), field="password")
    user.password_hash = hash_password(password)
    user.must_change_password = False
    user.end_sessions()
    user.updated_at = now
    record_event(user, "user.password_changed", "user", user.id, now=now, required=True)


def set_own_names(user: User, *, first_name: str, last_name: str, now) -> bool:
    """A person corrects their own name; True when it changed."""
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
    if (first_name, last_name) == (user.first_name, user.last_name):
        return False
    user.first_name, user.last_name = first_name, last_name
    user.updated_at = now
    record_event(user, "user.updated", "user", user.id, now=now, fields=["first_name", "last_name"])
    return True


def set_language(user: User, language: str, *, now):
    user.language = check_language(language)
    user.updated_at = now
