"""Reading the audit trail: the admins' audit log, its CSV export and each person's history.

Recording (lms.audit.services) sits below the domains and knows none of them. Reading names
what each event points at (people, groups, sessions, programs, invite links, imports), so this
module sits above the domains' models. Whatever the number of rows, a page of events costs one
query for the events and one per kind of thing they name.

An event reads as its actor, then a sentence ("cancelled the invitation"), the person it is
about and its target. Actions this module does not know (added by later features) read as
their name and details.
"""
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select

from lms.accounts.models import User
from lms.audit.models import AuditEvent
from lms.clock import start_of_day
from lms.db_utils import as_id, chunked
from lms.enrollment.groups.models import Group
from lms.enrollment.links.models import InviteLink, InviteLinkTarget
from lms.enrollment.rosters.models import ImportJob, ImportJobRow, ImportRowOutcome
from lms.extensions import db
from lms.programs.models import Program, ProgramSession

HISTORY_LENGTH = 20  # events on a person's page; the audit log has the rest
EXPORT_BATCH = 500
SHOWN_PER_EVENT = 5  # names of groups an event lists before "and 3 more"
SYSTEM, SCHEDULER, THEMSELVES = "System", "Scheduler", "The person themselves"

# (prefix, name): the action filter's groups, "invitation.*" and so on.
ACTION_GROUPS = [
    ("invitation", "Invitations"),
    ("roster", "Imports"),
    ("user", "Accounts"),
    ("group", "Groups"),
    ("session", "Sessions"),
    ("program", "Programs"),
    ("invite_link", "Invite links"),
    ("scim_token", "SCIM tokens"),
]

# Every action the services record (grep record_event), with its name in the action filter.
KNOWN_ACTIONS = {
    "invitation.created": "Invited",
    "invitation.resent": "Invitation resent",
    "invitation.cancelled": "Invitation cancelled",
    "invitation.accepted": "Invitation accepted",
    "invitation.declined": "Invitation declined",
    "invitation.withdrew": "Groups and sessions taken back",
    "roster.imported": "Roster imported",
    "user.created": "Account created",
    "user.updated": "Account edited",
    "user.deactivated": "Deactivated",
    "user.reactivated": "Reactivated",
    "user.password_set": "Password set",
    "user.password_changed": "Password changed",
    "user.password_reset_requested": "Password reset asked for",
    "user.password_reset": "Password reset",
    "group.created": "Group created",
    "group.renamed": "Group renamed",
    "group.opened_to_trainers": "Group opened to trainers",
    "group.closed_to_trainers": "Group closed to trainers",
    "group.deleted": "Group deleted",
    "group.members_added": "Members added",
    "group.member_removed": "Member removed",
    "group.members_removed": "Members removed",
    "session.created": "Session created",
    "session.updated": "Session edited",
    "session.group_assigned": "Group added to a session",
    "session.group_removed": "Group removed from a session",
    "session.learner_added": "Learner added",
    "session.learner_removed": "Learner removed",
    "session.emails_added": "Emails added to a session",
    "session.emails_sent_now": "Session emails sent now",
    "program.created": "Program created",
    "program.updated": "Program edited",
    "program.archived": "Program archived",
    "invite_link.created": "Invite link created",
    "invite_link.updated": "Invite link terms changed",
    "invite_link.revoked": "Invite link switched off",
    "invite_link.enabled": "Invite link switched on",
    "invite_link.joined": "Joined through an invite link",
    "scim_token.created": "SCIM token created",
    "scim_token.revoked": "SCIM token revoked",
}


def action_choices():
    """(value, label, group) for the action filter: each group's "all", then its actions."""
    choices = []
    for prefix, name in ACTION_GROUPS:
        choices.append((f"{prefix}.*", f"All: {name.lower()}", name))
        choices += [(action, label, name) for action, label in KNOWN_ACTIONS.items()
                    if action.startswith(prefix + ".")]
    return choices


# --- what an event names ------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """Something an event names. `kind` says which page shows it (user, group, session,
    program, invite_link, import); `id` is None when it no longer exists: then it is only
    its label."""

    kind: str
    id: int | None
    label: str
    note: str = ""  # a person's email (shown beside their name when it is not the name)

    def __str__(self):
        return self.label


@dataclass
class Entry:
    """One line of the log: `actor` is a Ref or SYSTEM, SCHEDULER or THEMSELVES; `sentence`
    a list of strings and Refs ("added the group ", Ref, " to the session")."""

    when: datetime
    action: str
    actor: Ref | str
    sentence: list
    person: Ref | None = None
    target: Ref | None = None
    event: AuditEvent | None = None

    @property
    def text(self) -> str:
        return "".join(str(part) for part in self.sentence)

    @property
    def full_text(self) -> str:
        """"Ada Admin cancelled the invitation (Bob Brown)", for the export."""
        about = f" ({self.person})" if self.person is not None and self.person != self.actor else ""
        return f"{self.actor} {self.text}{about}"


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ints(value):
    return [number for number in (value if isinstance(value, list) else []) if _int(number) is not None]


_TARGET_KINDS = {"group": "group", "session": "session", "program": "program", "invite_link": "invite_link",
                 "user": "user"}


class _Names:
    """The names of everything a batch of events points at, a query per kind."""

    def __init__(self, events, user_ids=()):
        wanted = {kind: set() for kind in ("user", "group", "session", "program", "invite_link", "import")}
        wanted["user"].update(user_ids)
        for event in events:
            details = event.details if isinstance(event.details, dict) else {}
            wanted["user"].update(i for i in (event.actor_id, event.user_id, _int(details.get("user_id"))) if i)
            kind = _TARGET_KINDS.get(event.target_type)
            if kind and _int(event.target_id):
                wanted[kind].add(event.target_id)
            wanted["group"].update(_ints(details.get("group_ids"))[:SHOWN_PER_EVENT])
            for key, kind in (("group_id", "group"), ("program_id", "program"), ("invite_link_id", "invite_link"),
                              ("job_id", "import")):
                if _int(details.get(key)):
                    wanted[kind].add(details[key])
        self.users = {row.id: row for row in self._rows(
            select(User.id, User.email, User.first_name, User.last_name), User.id, wanted["user"])}
        self.groups = dict(self._rows(select(Group.id, Group.name), Group.id, wanted["group"]))
        self.programs = dict(self._rows(select(Program.id, Program.title), Program.id, wanted["program"]))
        self.sessions = {
            row.id: f"{row.title} – {row.name}" for row in self._rows(
                select(ProgramSession.id, ProgramSession.name, Program.title).join(Program), ProgramSession.id,
                wanted["session"])}
        self.links = {row.id: _link_label(row) for row in self._rows(
            select(InviteLink.id, InviteLink.target, Group.name.label("group_name"),
                   ProgramSession.name.label("session_name"), Program.title.label("program_title"))
            .outerjoin(Group, InviteLink.group_id == Group.id)
            .outerjoin(ProgramSession, InviteLink.session_id == ProgramSession.id)
            .outerjoin(Program, ProgramSession.program_id == Program.id), InviteLink.id, wanted["invite_link"])}
        self.imports = set(self._rows(select(ImportJob.id), ImportJob.id, wanted["import"], scalars=True))

    @staticmethod
    def _rows(query, column, ids, scalars=False):
        rows = []
        for batch in chunked(sorted(ids)):
            result = db.session.execute(query.where(column.in_(batch)))
            rows += result.scalars().all() if scalars else result.all()
        return rows

    def user(self, user_id) -> Ref:
        row = self.users.get(user_id)
        return _person_ref(row) if row is not None else Ref("user", None, "a deleted account")

    def group(self, group_id, fallback=None) -> Ref:
        if group_id in self.groups:
            return Ref("group", group_id, self.groups[group_id])
        return Ref("group", None, f"“{fallback}” (deleted)" if fallback else "a deleted group")

    def session(self, session_id) -> Ref:
        if session_id in self.sessions:
            return Ref("session", session_id, self.sessions[session_id])
        return Ref("session", None, "a deleted session")

    def program(self, program_id, fallback=None) -> Ref:
        if program_id in self.programs:
            return Ref("program", program_id, self.programs[program_id])
        return Ref("program", None, f"“{fallback}” (deleted)" if fallback else "a deleted program")

    def link(self, link_id) -> Ref:
        if link_id in self.links:
            return Ref("invite_link", link_id, self.links[link_id])
        return Ref("invite_link", None, "a deleted invite link")

    def job(self, job_id, label=None) -> Ref | None:
        if _int(job_id) is None:
            return None
        return Ref("import", job_id if job_id in self.imports else None, label or f"Roster import #{job_id}")


def _person_ref(user):
    name = " ".join(part for part in (user.first_name, user.last_name) if part)
    return Ref("user", user.id, name or user.email, user.email)


def _link_label(row):
    if row.target == InviteLinkTarget.session and row.session_name is not None:
        return f"Invite link to {row.program_title} – {row.session_name}"
    if row.target == InviteLinkTarget.group and row.group_name is not None:
        return f"Invite link to {row.group_name}"
    return "Invite link to the platform"


# --- sentences ----------------------------------------------------------------------------


def _count(number, word, plural=None):
    return f"{number:,} {word if number == 1 else plural or word + 's'}"


def _and(parts):
    """["a", "b", "c"] as ["a", ", ", "b", " and ", "c"] (parts may be Refs)."""
    joined = []
    for index, part in enumerate(parts):
        if index:
            joined.append(" and " if index == len(parts) - 1 else ", ")
        joined.append(part)
    return joined


def _counts(details, *pairs):
    """"(3 registered, 1 new to the platform)" from the counters the details hold."""
    shown = [f"{details[key]:,} {words}" for key, words in pairs if _int(details.get(key)) is not None]
    return f" ({', '.join(shown)})" if shown else ""


ROLE_WORDS = {"learner": "a learner", "manager": "a manager (trainer)", "admin": "an admin"}
LINK_ROLE_WORDS = {"learner": "learners", "manager": "managers (trainers)"}
FIELD_WORDS = {"first_name": "first name", "last_name": "last name", "additional_info": "additional information",
               "deactivate_on": "deactivation date", "external_id": "external id",
               "must_change_password": "request to choose a new password"}
TERM_WORDS = {"max_uses": ("maximum uses", "no limit"), "expires_on": ("works until", "no expiry"),
              "allowed_domain": ("email addresses", "any")}


def _invited(event, details, names):
    role = details.get("role")
    return ["invited" + (f" as {ROLE_WORDS.get(role, role)}" if isinstance(role, str) else "")]


def _withdrew(event, details, names):
    group_ids, session_ids = _ints(details.get("group_ids")), _ints(details.get("session_ids"))
    taken = [names.group(group_id) for group_id in group_ids[:SHOWN_PER_EVENT]]
    if len(group_ids) > SHOWN_PER_EVENT:
        taken.append(_count(len(group_ids) - SHOWN_PER_EVENT, "more group"))
    if session_ids:
        taken.append(_count(len(session_ids), "pending session"))
    if not taken:
        return ["took back what the invitation gave"]
    return ["took the person out of ", *_and(taken), ", as their invitation ended"]


def _imported(event, details, names):
    job = names.job(details.get("job_id"), "a roster")
    counts = _counts(details, ("created", "created"), ("updated", "updated"), ("rejected", "rejected"))
    mode = details.get("mode")
    return ["imported ", job or "a roster", counts, f" in {mode} mode" if mode in ("update", "fill") else ""]


def _account_created(event, details, names):
    link_id = _int(details.get("invite_link_id"))
    if link_id is not None:
        return ["created their account through ", names.link(link_id)]
    return ["created the account"]


def _account_updated(event, details, names):
    fields = [name for name in details.get("fields") or [] if isinstance(name, str)]
    role = details.get("role")
    head = None
    if isinstance(role, dict) and isinstance(role.get("from"), str) and isinstance(role.get("to"), str):
        head = f"changed the role from {role['from']} to {role['to']}"
        fields = [name for name in fields if name != "role"]
    words = [FIELD_WORDS.get(name, name.replace("_", " ")) for name in fields]
    rest = "".join(_and(words))
    if head and rest:
        return [f"{head}, and the {rest}"]
    return [head or (f"changed the {rest}" if rest else "edited the account")]


def _password_set(event, details, names):
    notes = [note for key, note in (("emailed", "emailed to them"),
                                    ("must_change", "to be changed at the next sign-in")) if details.get(key)]
    return ["set a generated password" if details.get("generated") else "set a password",
            f" ({', '.join(notes)})" if notes else ""]


def _deactivated(event, details, names):
    if details.get("reason") == "deactivate_on":
        return ["deactivated the account (its deactivation date had come)"]
    return ["deactivated the account"]


def _renamed(event, details, names):
    return [f"renamed the group from “{details.get('old', '?')}” to “{details.get('new', '?')}”"]


def _session_created(event, details, names):
    program_id = _int(details.get("program_id"))
    return ["created the session", *([" in the program ", names.program(program_id)] if program_id else [])]


def _group_of(details, names):
    group_id = _int(details.get("group_id"))
    return names.group(group_id) if group_id is not None else "a group"


def _term(field, value):
    _, none = TERM_WORDS.get(field, (field, "none"))
    if value is None:
        return none
    if field == "allowed_domain":
        return f"only @{value}"
    return f"{value:,}" if _int(value) is not None else str(value)


def _link_updated(event, details, names):
    changes = details.get("changes") if isinstance(details.get("changes"), dict) else {}
    described = [f"{TERM_WORDS.get(field, (field.replace('_', ' '),))[0]} {_term(field, values[0])} → "
                 f"{_term(field, values[1])}"
                 for field, values in changes.items() if isinstance(values, list) and len(values) == 2]
    return ["changed the link's terms" + (": " + "; ".join(described) if described else "")]


def _link_created(event, details, names):
    terms = []
    if isinstance(details.get("role"), str):
        terms.append(f"for {LINK_ROLE_WORDS.get(details['role'], details['role'])}")
    if _int(details.get("max_uses")):
        terms.append(f"up to {_count(details['max_uses'], 'use')}")
    return ["created the invite link" + (f" ({', '.join(terms)})" if terms else "")]


def _fixed(words):
    return lambda event, details, names: [words]


def _members_counted(verb, preposition):
    """"added 3 members to the group", or without a count "added members to the group"."""
    def sentence(event, details, names):
        counted = _count(details["count"], "member") if _int(details.get("count")) is not None else "members"
        return [f"{verb} {counted} {preposition} the group"]

    return sentence


def _token_named(verb):
    return lambda event, details, names: [f"{verb} the SCIM token “{details.get('name', '?')}”"]


SENTENCES = {
    "invitation.created": _invited,
    "invitation.resent": _fixed("resent the invitation"),
    "invitation.cancelled": _fixed("cancelled the invitation"),
    "invitation.accepted": _fixed("accepted the invitation"),
    "invitation.declined": _fixed("declined the invitation"),
    "invitation.withdrew": _withdrew,
    "roster.imported": _imported,
    "user.created": _account_created,
    "user.updated": _account_updated,
    "user.deactivated": _deactivated,
    "user.reactivated": _fixed("reactivated the account"),
    "user.password_set": _password_set,
    "user.password_changed": lambda event, details, names: [
        "changed their password" + (" as asked at sign-in" if details.get("required") else "")],
    "user.password_reset_requested": _fixed("asked for a link to reset their password"),
    "user.password_reset": _fixed("reset their password through the emailed link"),
    "group.created": _fixed("created the group"),
    "group.renamed": _renamed,
    "group.opened_to_trainers": _fixed("let trainers add the group to their sessions"),
    "group.closed_to_trainers": _fixed("stopped trainers adding the group to their sessions"),
    "group.deleted": lambda event, details, names: [f"deleted the group “{details.get('name', '?')}”"],
    "group.members_added": _members_counted("added", "to"),
    "group.member_removed": _fixed("removed the person from the group"),
    "group.members_removed": _members_counted("removed", "from"),
    "session.created": _session_created,
    "session.updated": lambda event, details, names: [
        "edited the session" + (" and moved its dates" if details.get("moved") else "")],
    "session.group_assigned": lambda event, details, names: [
        "added the group ", _group_of(details, names), " to the session", _counts(details, ("invited", "invited"))],
    "session.group_removed": lambda event, details, names: [
        "removed the group ", _group_of(details, names), " from the session",
        _counts(details, ("cancelled", "pending invitations cancelled"))],
    "session.learner_added": _fixed("added the learner to the session"),
    "session.learner_removed": _fixed("removed the learner from the session"),
    "session.emails_added": lambda event, details, names: [
        "registered people by email" + _counts(details, ("registered", "registered"),
                                               ("new_to_platform", "new to the platform"))],
    "session.emails_sent_now": lambda event, details, names: [
        f"sent {_count(details['count'], 'waiting invitation email')} now" if _int(details.get("count")) is not None
        else "sent the waiting invitation emails now"],
    "program.created": _fixed("created the program"),
    "program.updated": _fixed("edited the program"),
    "program.archived": _fixed("archived the program"),
    "invite_link.created": _link_created,
    "invite_link.updated": _link_updated,
    "invite_link.revoked": _fixed("switched the invite link off"),
    "invite_link.enabled": _fixed("switched the invite link on again"),
    "invite_link.joined": _fixed("joined through the invite link"),
    "scim_token.created": _token_named("created"),
    "scim_token.revoked": _token_named("revoked"),
}
MAX_DETAILS_TEXT = 300


def _unknown(event, details, names):
    """An action this module does not know: its name, then its details as they are."""
    shown = ", ".join(f"{key}: {json.dumps(value, ensure_ascii=False, default=str)}" for key, value in details.items())
    if len(shown) > MAX_DETAILS_TEXT:
        shown = shown[:MAX_DETAILS_TEXT - 1] + "…"
    return [event.action + (f" ({shown})" if shown else "")]


def _actor(event, names):
    if event.actor_id is not None:
        return names.user(event.actor_id)
    details = event.details if isinstance(event.details, dict) else {}
    token = details.get("scim_token")
    if isinstance(token, dict) and token.get("name"):
        return f"SCIM token “{token['name']}”"
    if event.action == "user.deactivated" and details.get("reason") == "deactivate_on":
        return SCHEDULER
    if event.action == "invitation.declined":
        return THEMSELVES
    return SYSTEM


def _target(event, details, names):
    target_id = _int(event.target_id)
    if event.target_type == "user":  # the person column says who
        return names.job(details.get("job_id")) if event.action == "roster.imported" else None
    if event.target_type == "invitation":  # it has no page of its own; the person column says whose
        return None
    if target_id is None:
        return Ref(event.target_type, None, event.target_type.replace("_", " ")) if event.target_type else None
    if event.target_type == "group":
        return names.group(target_id, details.get("name") or details.get("new"))
    if event.target_type == "session":
        return names.session(target_id)
    if event.target_type == "program":
        return names.program(target_id, details.get("title"))
    if event.target_type == "invite_link":
        return names.link(target_id)
    return Ref(event.target_type, None, f"{event.target_type.replace('_', ' ')} #{target_id}")


def _entry(event, names):
    details = event.details if isinstance(event.details, dict) else {}
    sentence = SENTENCES.get(event.action, _unknown)(event, details, names)
    return Entry(when=event.created_at, action=event.action, actor=_actor(event, names),
                 sentence=[part for part in sentence if part],
                 person=names.user(event.user_id) if event.user_id is not None else None,
                 target=_target(event, details, names), event=event)


def describe(events) -> list[Entry]:
    """The entries of these events (a page of them), their names loaded in a few queries."""
    names = _Names(events)
    return [_entry(event, names) for event in events]


# --- filtering ----------------------------------------------------------------------------


@dataclass
class AuditFilters:
    """`person` and `actor`: an account id, or the start of an email or a name."""

    person: str = ""
    actor: str = ""
    action: str = ""  # an action, or a group of them: "invitation.*"
    date_from: date | None = None  # platform dates, both included
    date_to: date | None = None


def _people(text):
    """Who `text` names: the account with that id, or those whose email, first name, last name
    or full name starts with it (ignoring case)."""
    user_id = as_id(text)
    if user_id is not None:
        return User.id == user_id
    start = text.strip().lower()
    return or_(User.email.startswith(start, autoescape=True),
               func.lower(User.first_name).startswith(start, autoescape=True),
               func.lower(User.last_name).startswith(start, autoescape=True),
               func.lower(User.first_name + " " + User.last_name).startswith(start, autoescape=True))


def _who(column, text):
    user_id = as_id(text)
    return column == user_id if user_id is not None else column.in_(select(User.id).where(_people(text)))


def anyone_named(text) -> bool:
    """Whether `text` (as the person and actor filters read it) names at least one account."""
    return db.session.scalar(select(User.id).where(_people(text)).limit(1)) is not None


def account_of(text) -> Ref | None:
    """The account `text` names by its id, if it does."""
    user_id = as_id(text)
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    return _person_ref(user) if user is not None else None


def event_query(filters: AuditFilters):
    """The events the filters select, newest first."""
    query = select(AuditEvent)
    if filters.person:
        query = query.where(_who(AuditEvent.user_id, filters.person))
    if filters.actor:
        query = query.where(_who(AuditEvent.actor_id, filters.actor))
    if filters.action.endswith(".*"):
        query = query.where(AuditEvent.action.startswith(filters.action[:-1], autoescape=True))
    elif filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.date_from:
        query = query.where(AuditEvent.created_at >= start_of_day(filters.date_from))
    if filters.date_to:
        query = query.where(AuditEvent.created_at < start_of_day(filters.date_to + timedelta(days=1)))
    return query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())


def all_entries(query, batch_size=None):
    """Every entry `query` (event_query's) selects, a batch at a time (keyset, so each batch
    costs the same), for the export: memory holds one batch, whatever the total."""
    batch_size = batch_size or EXPORT_BATCH
    last = None
    while True:
        batch_query = query
        if last is not None:
            batch_query = query.where(or_(AuditEvent.created_at < last.created_at,
                                          and_(AuditEvent.created_at == last.created_at, AuditEvent.id < last.id)))
        events = db.session.scalars(batch_query.limit(batch_size)).all()
        yield from describe(events)
        if len(events) < batch_size:
            return
        last = events[-1]
        for event in events:
            db.session.expunge(event)


# --- a person's history -------------------------------------------------------------------

IMPORT_OUTCOMES = (ImportRowOutcome.created, ImportRowOutcome.updated)


def person_history(user_id, limit=HISTORY_LENGTH) -> list[Entry]:
    """The latest `limit` things that happened to a person: the events about them and the
    roster imports that created or updated their account, newest first."""
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.user_id == user_id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)).all()
    rows = db.session.execute(
        select(ImportJobRow.job_id, ImportJobRow.outcome, ImportJob.created_by_id, ImportJob.created_at,
               ImportJob.started_at, ImportJob.finished_at)
        .join(ImportJob, ImportJob.id == ImportJobRow.job_id)
        .where(ImportJobRow.user_id == user_id, ImportJobRow.outcome.in_(IMPORT_OUTCOMES))
        .order_by(ImportJob.id.desc()).limit(limit)).all()
    names = _Names(events, [row.created_by_id for row in rows if row.created_by_id])
    imports = {}
    for row in rows:  # one line per import and outcome, should a roster list someone twice
        imports.setdefault((row.job_id, row.outcome), Entry(
            when=row.finished_at or row.started_at or row.created_at, action=f"roster.{row.outcome.value}",
            actor=names.user(row.created_by_id) if row.created_by_id else SYSTEM,
            sentence=[f"{row.outcome.value} by ", Ref("import", row.job_id, f"roster import #{row.job_id}")]))
    entries = [_entry(event, names) for event in events] + list(imports.values())
    return sorted(entries, key=lambda entry: entry.when, reverse=True)[:limit]
