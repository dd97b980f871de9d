"""Importing a roster (DESIGN §4): plan every row, then write the valid ones set-based (R11).

`plan_import` decides each row's action (create / update / unchanged / skip / error) from the
database as it is, without writing: it is the preview, and a dry run. `run_import` writes the
plan batch by batch: accounts, labels, invitations or account emails, group memberships (which
enroll people in the groups' sessions, R2), and, for a job, what it did with each person
(ImportJobRow, the report's people). It never commits; the caller does (the CLI once, a
background job after each batch so its progress shows, or once when the import is strict).

A password cell `*generate*` (or the import's option for new accounts without a password) asks
for a temporary password: it is generated as its batch is written, hashed with the others, and
kept readable only in the email that brings it, sealed in the outbox (lms.notifications.sealed);
the person must choose their own at first sign-in. The plan, the job and the audit trail only
ever say "generated".
"""
import os
import re
import secrets
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import selectinload
from werkzeug.security import generate_password_hash

from lms.accounts.models import Role, User, UserLabel, UserStatus
from lms.accounts.passwords import GENERATE, generate_temporary_password
from lms.audit.services import record_event, record_events
from lms.clock import platform_today
from lms.db_utils import among, chunked, insert_rows
from lms.enrollment.groups.models import GroupMembership
from lms.enrollment.groups.services import add_group_members, resolve_groups
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import issue_invitations, tell_existing_members
from lms.enrollment.rosters.models import ImportJobRow, ImportRowOutcome
from lms.enrollment.rosters.parser import RosterError
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.notifications.outbox import cancel_queued_emails, queue_emails
from lms.notifications.sealed import sealed_password

MODES = ("create", "update", "fill")
BATCH_SIZE = 1000
PARALLEL_HASHING_FROM = 16  # fewer passwords than this are hashed in this process
PROFILE_FIELDS = ("first_name", "last_name", "language", "role", "additional_info", "deactivate_on", "external_id")
GENERATED_BY_EMAIL = ("A generated password reaches the person only by email, so this row must send it: "
                      "set send_email to 1 (or leave it empty), or type a password.")
_TEMPORARY = ("must_change_password is 0, but a generated password is temporary: the person chooses their own "
              "at the first sign-in. Leave must_change_password empty (or 1), or type a password.")


@dataclass
class PlannedRow:
    line: int
    email: str | None
    action: str  # create | update | unchanged | skip | error
    values: dict  # what the account will hold (row values over the import's defaults)
    given: dict = field(default_factory=dict)  # the row's own values
    errors: list[RosterError] = field(default_factory=list)
    changes: dict = field(default_factory=dict)  # update/fill: field -> new value
    new_groups: list = field(default_factory=list)  # Group rows the person joins
    user_id: int | None = None
    source: list = field(default_factory=list)
    activated: bool = False  # an invited account the row's password set up
    generated: bool = False  # gets a temporary password, generated as the row is written and emailed


@dataclass
class ImportReport:
    dry_run: bool = False
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    emails_queued: int = 0
    rejected: int = 0  # data rows not imported (the header's errors are in `errors` only)
    errors: list[RosterError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what was read otherwise than written (ignored columns...)
    sheet: str | None = None  # XLSX: the sheet read

    def as_dict(self):
        result = {"dry_run": self.dry_run, "total_rows": self.total_rows, "created": self.created,
                  "updated": self.updated, "unchanged": self.unchanged, "skipped": self.skipped,
                  "errors": [error.as_dict() for error in self.errors], "warnings": list(self.warnings)}
        return result | ({"sheet": self.sheet} if self.sheet is not None else {})


def defaults_for(*, language=None, role=None, groups=(), deactivate_on=None, send_email=True,
                 generate_passwords=False):
    """The values a row takes for the fields it leaves empty (the import form's defaults).
    `generate_passwords`: a new account whose row has no password (and sends its email) gets a
    generated temporary password by email rather than an invitation."""
    return {"language": language or current_app.config["LMS_DEFAULT_LANGUAGE"],
            "role": Role(role or Role.learner).value, "groups": list(groups),
            "deactivate_on": deactivate_on, "send_email": send_email, "generate_passwords": bool(generate_passwords)}


def plan_import(roster, *, mode="create", defaults=None, now, actor=None, progress=None) -> list[PlannedRow]:
    """Every row with what importing it would do, reading the database but writing nothing.
    `progress(rows_planned)` is called after each batch."""
    planned = []
    for batch in plan_batches(roster, mode=mode, defaults=defaults, now=now, actor=actor):
        planned += batch
        if progress is not None:
            progress(len(planned))
    return planned


def plan_batches(roster, *, mode="create", defaults=None, now, actor=None, groups=None):
    """plan_import as a stream: the plan of each batch of BATCH_SIZE rows, read from the roster
    as it goes (the roster's rows are never all held). Each batch costs the same few queries
    however many users the database holds: users by email and by external id, and their
    memberships, through the unique and user indexes. `groups`: a RosterGroups to fill (it
    holds every group the roster names, resolved once)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    defaults = defaults or defaults_for()
    groups = groups if groups is not None else RosterGroups()
    today = platform_today(now)
    matched = {}  # user id -> the line that matched them
    actor_id = actor.id if actor else None
    for batch in _batched(roster.iter_rows(), BATCH_SIZE):
        groups.resolve(batch, defaults)
        emails = [row.email for row in batch if row.email]
        by_email = {user.email: user for user in db.session.scalars(
            select(User).where(among(User.email, emails)).options(selectinload(User.label_rows)))} if emails else {}
        external_ids = [row.values["external_id"] for row in batch if row.values.get("external_id")]
        by_external_id = {user.external_id: user for user in db.session.scalars(
            select(User).where(among(User.external_id, external_ids)).options(selectinload(User.label_rows)))} \
            if external_ids else {}
        memberships = _memberships([user.id for user in (*by_email.values(), *by_external_id.values())])
        planned = []
        for row in batch:
            user = by_external_id.get(row.values.get("external_id")) or by_email.get(row.email)
            holder = by_email.get(row.email)
            planned_row = _plan_row(row, user, memberships, groups, defaults, mode, today, actor_id=actor_id,
                                    email_holder=holder if holder is not None and holder is not user else None)
            if planned_row.user_id is not None:
                if planned_row.user_id in matched:
                    _reject(planned_row, "external_id" if row.values.get("external_id") else "email",
                            f"This row is the same account as line {matched[planned_row.user_id]} "
                            f"({user.email}{', by its external id' if user.external_id else ''}).")
                else:
                    matched[planned_row.user_id] = row.line
            planned.append(planned_row)
        yield planned


def _batched(items, size):
    """Lists of `size` items from any iterable, read as they are asked for."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _reject(planned, column, message):
    planned.errors.append(RosterError(planned.line, column, message))
    planned.action, planned.changes, planned.new_groups = "error", {}, []


GROUP_SEPARATORS = re.compile(r"[;,]")


class RosterGroups(dict):
    """{reference: Group, a list of Groups, or None} for every group a roster names, resolved
    as its batches are read (one query for the references a batch brings that earlier ones did
    not). A cell may hold several groups separated by ; or , (as other systems write them)
    when no group has that exact name: then "a;b" resolves to the list of its parts' groups
    (None if any part is unknown); the parts are keys too, to name those unknown."""

    def __init__(self):
        super().__init__()
        self._asked = set()
        self.by_id = {}  # group id -> Group, of every group found

    def resolve(self, rows, defaults):
        references = {reference for row in rows for reference in row.values.get("groups", [])} \
            | set(defaults["groups"])
        references -= self._asked
        if not references:
            return
        self._asked |= references
        parts = {reference: [part.strip() for part in GROUP_SEPARATORS.split(reference) if part.strip()]
                 for reference in references if GROUP_SEPARATORS.search(str(reference))}
        found = resolve_groups(references | {part for split in parts.values() for part in split})
        self.by_id.update((group.id, group) for group in found.values() if group is not None)
        for reference in references:
            key = str(reference).strip()
            group = found.get(key)
            if group is None and reference in parts and all(found.get(part) for part in parts[reference]):
                group = [found[part] for part in parts[reference]]
            self[key] = group
        for split in parts.values():
            for part in split:
                self.setdefault(part, found.get(part))


def _memberships(user_ids):
    groups = {}
    for batch in chunked(user_ids):
        for user_id, group_id in db.session.execute(
                select(GroupMembership.user_id, GroupMembership.group_id).where(among(GroupMembership.user_id, batch))):
            groups.setdefault(user_id, set()).add(group_id)
    return groups


ROW_ONLY_DEFAULTS = ("groups", "generate_passwords")  # defaults that are not an account's values


def _plan_row(row, user, memberships, groups, defaults, mode, today, actor_id=None, email_holder=None):
    values = {**{key: value for key, value in defaults.items() if key not in ROW_ONLY_DEFAULTS}, **row.values}
    planned = PlannedRow(line=row.line, email=row.email, action="error", values=values, given=row.values,
                         errors=list(row.errors), source=row.source)
    if row.values.get("password") == GENERATE:
        if row.values.get("send_email") is False:
            planned.errors.append(RosterError(row.line, "send_email", "send_email is 0, but the password is "
                                              f"{GENERATE}. {GENERATED_BY_EMAIL}"))
        if row.values.get("must_change_password") is False:
            planned.errors.append(RosterError(row.line, "must_change_password", _TEMPORARY))
    references = row.values.get("groups") or defaults["groups"]
    unknown = [part for reference in references if groups.get(str(reference).strip()) is None
               for part in (_parts(reference, groups) or [reference])]
    if unknown:
        planned.errors.append(RosterError(row.line, "groups", "Unknown group" + ("s" if len(unknown) > 1 else "")
                                          + ": " + ", ".join(unknown) + " (use a group id or its exact name)."))
    if values.get("deactivate_on") is not None and values["deactivate_on"] <= today:
        planned.errors.append(RosterError(row.line, "deactivate_on",
                                          f"{values['deactivate_on'].isoformat()} is not after today."))
    if planned.errors:
        return planned
    resolved = [groups[str(ref).strip()] for ref in references]
    row_groups = list({group.id: group for found in resolved
                       for group in (found if isinstance(found, list) else [found])}.values())
    if user is None:
        planned.action, planned.new_groups = "create", row_groups
        _plan_generated_password(planned, row, defaults)
        return planned
    planned.user_id = user.id
    if mode == "create":
        planned.action = "skip"
        return planned
    planned.new_groups = [group for group in row_groups if group.id not in memberships.get(user.id, set())]
    planned.changes = _changes(user, row.values, mode)
    if planned.changes.get("password") == GENERATE:
        if user.status == UserStatus.deactivated:
            _reject(planned, "password", f"{user.email}'s account is deactivated: a generated password would "
                                         "not let them sign in. Reactivate the account first (or leave the "
                                         "password empty).")
            return planned
        planned.generated = True
        if not user.must_change_password:
            planned.changes["must_change_password"] = True
    if row.email and row.email != user.email:  # matched by its external id: the HR system has a new email
        if email_holder is not None:
            _reject(planned, "email", f"{row.email} is the email of another account, while the external id "
                                      f"{row.values['external_id']} is {user.email}'s.")
            return planned
        planned.changes["email"] = row.email
    if user.id == actor_id:  # as on the account page: nobody demotes or schedules away themselves
        for name, message in (("role", "You cannot change your own role."),
                              ("deactivate_on", "You cannot schedule your own deactivation.")):
            if name in planned.changes:
                planned.errors.append(RosterError(row.line, name, message))
        if planned.errors:
            planned.action, planned.changes, planned.new_groups = "error", {}, []
            return planned
    planned.action = "update" if planned.changes or planned.new_groups else "unchanged"
    return planned


def _plan_generated_password(planned, row, defaults):
    """A new account gets a generated temporary password when its row says *generate*, or when
    the import's option asks for one for every new account without a password that sends its
    email (a row with send_email 0 is invited without an email, as without the option)."""
    if "password" not in row.values and defaults.get("generate_passwords") and planned.values["send_email"]:
        if row.values.get("must_change_password") is False:
            _reject(planned, "must_change_password",
                    "must_change_password is 0, but the import gives new accounts without a password a generated "
                    "one, which is temporary. Type a password for this row, or leave must_change_password empty.")
            return
        planned.values["password"] = GENERATE
    if planned.values.get("password") == GENERATE:
        planned.generated = True
        planned.values["must_change_password"] = True


def _parts(reference, groups):
    """The unknown groups of a cell holding several ("sales;ubuntu"), when some part is unknown."""
    parts = [part.strip() for part in GROUP_SEPARATORS.split(str(reference)) if part.strip()]
    return [part for part in parts if groups.get(part) is None] if len(parts) > 1 else None


def _changes(user, given, mode):
    """What a row changes on an existing account: `update` takes every value the row gives,
    `fill` only sets what the account has empty."""
    current = {"first_name": user.first_name, "last_name": user.last_name, "language": user.language,
               "role": user.role.value, "additional_info": user.additional_info, "deactivate_on": user.deactivate_on,
               "external_id": user.external_id}
    changes = {}
    for name in PROFILE_FIELDS:
        if name not in given or given[name] == current[name]:
            continue
        if mode == "update" or current[name] in ("", None):
            changes[name] = given[name]
    if "labels" in given:
        labels = sorted(given["labels"], key=str.casefold)
        if labels != user.labels and (mode == "update" or not user.labels):
            changes["labels"] = labels
    if "external_id" in changes and mode == "fill" and user.external_id:  # fill never replaces a key
        del changes["external_id"]
    if "password" in given and (mode == "update" or user.password_hash is None):
        changes["password"] = given["password"]
    # The flag goes with the password: fill sets it only on an account that has none yet.
    if "must_change_password" in given and given["must_change_password"] != user.must_change_password \
            and (mode == "update" or user.password_hash is None):
        changes["must_change_password"] = given["must_change_password"]
    return changes


@dataclass(frozen=True)
class Resume:
    """Where a job whose worker died stands: the rows of the plan it wrote, and what it counted."""
    rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    emails_queued: int = 0


KEPT_PLAN_ROWS = 20_000  # a plan up to this many rows is kept whole between checking and writing; a
#                          longer one keeps each row's decision only, and reads the rows again to write them


def run_import(roster, *, actor, now, mode="create", defaults=None, strict=False, dry_run=False,
               progress=None, checked=None, before_write=None, resume: Resume | None = None,
               job_id=None) -> ImportReport:
    """Plan, then write the valid rows (all or none when strict). `checked(rows)` is called after
    each batch planned; then for each batch, `before_write()` once its passwords are hashed and
    just before it writes, and `progress(done, report)` after. With `resume`, the plan's first
    `resume.rows` rows are already written: they are counted as the job counted them. With
    `job_id` (the ImportJob running it), each batch also records what it did with each person
    (ImportJobRow), in the batch's own writes. Nothing is committed here.

    The roster is read as a stream: every row is planned (checked) before any is written, as
    the preview does, and a plan longer than KEPT_PLAN_ROWS keeps only what was decided for
    each row (its action, account, changes and groups), the rows being read again, batch by
    batch, to be written; so memory stays flat however long the roster."""
    defaults = defaults or defaults_for()
    groups = RosterGroups()
    report = ImportReport(dry_run=dry_run, total_rows=roster.total_rows, warnings=list(roster.warnings),
                          sheet=roster.sheet)
    errors = list(roster.errors)
    kept = [] if roster.total_rows <= KEPT_PLAN_ROWS else None
    decisions = []
    planned_rows = 0
    for batch in plan_batches(roster, mode=mode, defaults=defaults, now=now, actor=actor, groups=groups):
        for row in batch:
            if row.errors:
                errors += row.errors
                report.rejected += 1
        if dry_run:
            count_actions(report, batch)
        elif kept is not None:
            kept += batch
        else:
            decisions += (_decision(row) for row in batch)
        planned_rows += len(batch)
        if checked is not None:
            checked(planned_rows)
    report.errors = sorted(errors, key=lambda error: error.line)
    if dry_run or (strict and report.errors):
        return report
    done = 0
    if resume is not None:
        done = resume.rows
        for counter in ("created", "updated", "unchanged", "skipped", "emails_queued"):
            setattr(report, counter, getattr(resume, counter))
    batches = (chunked(kept[done:], BATCH_SIZE) if kept is not None
               else _replanned_batches(roster, decisions[done:], groups, defaults))
    emails = _EmailCount()
    for batch in batches:
        hashes, temporary = _hash_passwords_of(batch)  # the slow part, before the batch takes any lock
        if before_write is not None:
            before_write()
        _write(batch, hashes, temporary, actor=actor, now=now, job_id=job_id)  # seals them in their emails
        if job_id is not None:
            _record_people(batch, job_id)
        count_actions(report, batch)
        done += len(batch)
        report.emails_queued += emails.since_last()
        if progress is not None:
            progress(done, report)
    record_event(actor, "roster.imported", "user", None, now=now, mode=mode, rows=report.total_rows,
                 created=report.created, updated=report.updated, rejected=report.rejected, job_id=job_id)
    return report


class _EmailCount:
    """The emails queued since the last call: those with a higher id than the highest seen, a
    range of the primary key (the batch's own rows, however large the outbox)."""

    def __init__(self):
        self.highest = db.session.scalar(select(func.max(OutboxEmail.id))) or 0

    def since_last(self):
        queued, highest = db.session.execute(
            select(func.count(OutboxEmail.id), func.max(OutboxEmail.id)).where(OutboxEmail.id > self.highest)).one()
        self.highest = highest or self.highest
        return queued


@dataclass(frozen=True, slots=True)
class _Decision:
    """What the plan decided for a row, kept while the rows are written (not the row itself)."""
    line: int
    action: str
    user_id: int | None = None
    changes: dict | None = None
    group_ids: tuple = ()
    generated: bool = False


_NO_GROUPS = ()


def _decision(row):
    if row.action == "error":
        return _Decision(row.line, "error")
    group_ids = tuple(group.id for group in row.new_groups) or _NO_GROUPS
    return _Decision(row.line, row.action, row.user_id, row.changes or None, group_ids, row.generated)


def _replanned_batches(roster, decisions, groups, defaults):
    """The batches of the plan from these decisions, each row read again from the roster (the
    rows rejected are not: nothing of them is written)."""
    wanted = {decision.line for decision in decisions if decision.action != "error"}
    rows = roster.iter_rows_at(wanted.__contains__)
    for chunk in chunked(decisions, BATCH_SIZE):
        batch = []
        for decision in chunk:
            if decision.action == "error":
                batch.append(PlannedRow(line=decision.line, email=None, action="error", values={}))
                continue
            row = next(rows)
            assert row.line == decision.line, (row.line, decision.line)
            batch.append(_planned_again(row, decision, groups, defaults))
        yield batch


def _planned_again(row, decision, groups, defaults):
    """The PlannedRow that _plan_row made of this row, from what it decided."""
    values = {**{key: value for key, value in defaults.items() if key not in ROW_ONLY_DEFAULTS}, **row.values}
    if decision.generated and decision.action == "create":  # as _plan_generated_password
        values["password"] = GENERATE
        values["must_change_password"] = True
    return PlannedRow(line=row.line, email=row.email, action=decision.action, values=values, given=row.values,
                      changes=dict(decision.changes or {}),
                      new_groups=[groups.by_id[group_id] for group_id in decision.group_ids],
                      user_id=decision.user_id, source=row.source, generated=decision.generated)


def report_of_plan(roster, planned, *, dry_run=False) -> ImportReport:
    """The report as the plan stands before anything is written: its errors by line and the
    rows they reject; the actions are counted by `count_actions` (as a batch is written)."""
    errors = sorted(roster.errors + [error for row in planned for error in row.errors], key=lambda error: error.line)
    return ImportReport(dry_run=dry_run, total_rows=roster.total_rows,
                        rejected=sum(1 for row in planned if row.errors), errors=errors,
                        warnings=list(roster.warnings), sheet=roster.sheet)


COUNTERS = {"create": "created", "update": "updated", "unchanged": "unchanged", "skip": "skipped"}
OUTCOMES = {"create": ImportRowOutcome.created, "update": ImportRowOutcome.updated,
            "unchanged": ImportRowOutcome.unchanged, "skip": ImportRowOutcome.skipped}


def count_actions(report, rows):
    for row in rows:
        if row.action in COUNTERS:
            setattr(report, COUNTERS[row.action], getattr(report, COUNTERS[row.action]) + 1)


def _hash_passwords_of(batch):
    """({line: password hash}, {line: temporary password}) for the rows of the batch that set a
    password; the temporary ones are generated here, for the rows that ask for one."""
    rows = [row for row in batch if (row.action == "create" and row.values.get("password"))
            or (row.action == "update" and "password" in row.changes)]
    temporary = {row.line: generate_temporary_password() for row in rows if row.generated}
    passwords = [temporary.get(row.line) or (row.values if row.action == "create" else row.changes)["password"]
                 for row in rows]
    return dict(zip((row.line for row in rows), hash_passwords(passwords), strict=True)), temporary


def _write(batch, hashes, temporary=None, *, actor, now, job_id=None):
    temporary = temporary or {}
    creates = [row for row in batch if row.action == "create"]
    updates = [row for row in batch if row.action == "update"]
    _create_accounts(creates, hashes, temporary, actor=actor, now=now)
    _update_accounts(updates, hashes, temporary, actor=actor, now=now, job_id=job_id)
    _join_groups(creates + updates, actor=actor, now=now)
    generated = [row.user_id for row in creates + updates if row.generated]
    if generated:  # who set it and how, never the password or its hash
        record_events(actor, "user.password_set", "user", generated, now=now,
                      details={"generated": True, "emailed": True, "must_change": True, "job_id": job_id})


def _record_people(batch, job_id):
    """What the import did with each person the batch names (the report lists them): written
    with the batch, so a job resumed after its last committed batch lists every line once."""
    insert_rows(ImportJobRow, [{"job_id": job_id, "line": row.line, "outcome": OUTCOMES[row.action],
                                "user_id": row.user_id, "email": row.email}
                               for row in batch if row.action in OUTCOMES])


def _account_email(row, temporary, *, inviter=None, group_names=(), renewed=False, dedupe_key=None, language=None):
    """The account_created email of a row: the account is ready (or, `renewed`, has a new
    password); a generated password travels sealed in it. `language`: the account's, when the
    row is not the one that sets it (an update)."""
    must_change = row.changes.get("must_change_password", row.values.get("must_change_password"))
    context = {"group_names": list(group_names), "inviter_name": inviter,
               "must_change": bool(row.generated or must_change)}
    if row.generated:
        context.update(sealed_password(temporary[row.line]))
    if renewed:
        context["password_renewed"] = True
    return {"recipient": row.email, "user_id": row.user_id, "kind": "account_created",
            "language": language or row.values["language"], "context": context,
            "dedupe_key": dedupe_key or f"account_created:{row.user_id}"}


def _one_time_key(row, job_id):
    """A dedupe key for an email that must go even if the person had one of its kind before
    (a new temporary password): one per person and job."""
    return f"account_created:{row.user_id}:" + (f"import-{job_id}" if job_id is not None else secrets.token_hex(8))


def hash_passwords(passwords):
    """scrypt hashes, on every core when there are many (each costs about 0.1 s)."""
    passwords = list(passwords)
    if len(passwords) < PARALLEL_HASHING_FROM:
        return [generate_password_hash(password) for password in passwords]
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(generate_password_hash, passwords, chunksize=max(1, len(passwords) // (workers * 4))))


def _create_accounts(rows, hashes_by_line, temporary, *, actor, now):
    if not rows:
        return
    hashes = {row.email: hashes_by_line[row.line] for row in rows if row.line in hashes_by_line}
    insert_rows(User, [
        {"email": row.email, "first_name": row.values.get("first_name", ""),
         "last_name": row.values.get("last_name", ""), "role": Role(row.values["role"]),
         "status": UserStatus.active if row.email in hashes else UserStatus.invited,
         "password_hash": hashes.get(row.email), "language": row.values["language"],
         "additional_info": row.values.get("additional_info", ""), "deactivate_on": row.values.get("deactivate_on"),
         "external_id": row.values.get("external_id"),
         "must_change_password": bool(row.values.get("must_change_password")), "created_at": now, "updated_at": now}
        for row in rows])
    users = {user.email: user for user in db.session.execute(
        select(User.id, User.email).where(among(User.email, [row.email for row in rows])))}
    for row in rows:
        row.user_id = users[row.email].id
    insert_rows(UserLabel, [{"user_id": row.user_id, "label": label}
                            for row in rows for label in row.values.get("labels", [])])
    # Without a password the email invites them to choose one (R8); with one, it says the
    # account is ready (and brings a generated password, whatever send_email the form gave:
    # it reaches them no other way). Invitations are issued per role, language and send_email.
    to_invite = {}
    for row in rows:
        if row.email not in hashes:
            to_invite.setdefault((row.values["role"], row.values["language"], row.values["send_email"]), []).append(
                users[row.email])
    for (role, language, send_email), people in to_invite.items():
        issue_invitations(people, actor=actor, now=now, role=Role(role), language=language, message="",
                           send_email=send_email, group_names=None, objects=False)
    inviter = actor.display_name if actor else None
    queue_emails([_account_email(row, temporary, inviter=inviter, group_names=[group.name for group in row.new_groups])
                  for row in rows if row.email in hashes and (row.values["send_email"] or row.generated)], now=now)


def _update_accounts(rows, hashes_by_line, temporary, *, actor, now, job_id=None):
    changed = [row for row in rows if row.changes]
    if not changed:
        return
    hashes = {row.user_id: hashes_by_line[row.line] for row in changed if row.line in hashes_by_line}
    for fields in {tuple(sorted(set(row.changes) - {"labels"})) for row in changed}:
        same = [row for row in changed if tuple(sorted(set(row.changes) - {"labels"})) == fields]
        db.session.execute(update(User), [
            {"id": row.user_id, "updated_at": now,
             **{name: (Role(row.changes[name]) if name == "role" else row.changes[name])
                for name in fields if name != "password"},
             **({"password_hash": hashes[row.user_id]} if "password" in fields else {})}
            for row in same])
    _activate_invited([row for row in changed if "password" in row.changes], temporary, now=now, job_id=job_id)
    # Someone who had set up their account gets their new temporary password by email.
    renewed = [row for row in changed if row.generated and not row.activated]
    inviter = actor.display_name if actor else None
    for batch in chunked(renewed):
        languages = _languages([row.user_id for row in batch])
        queue_emails([_account_email(row, temporary, inviter=inviter, renewed=True, language=languages[row.user_id],
                                     dedupe_key=_one_time_key(row, job_id)) for row in batch], now=now)
    for row in changed:
        if "email" in row.changes:  # what is still to be sent goes to the new address
            db.session.execute(update(OutboxEmail).where(OutboxEmail.user_id == row.user_id,
                                                         OutboxEmail.status == OutboxStatus.queued)
                               .values(recipient=row.changes["email"]).execution_options(synchronize_session=False))
    relabelled = [row for row in changed if "labels" in row.changes]
    for batch in chunked(relabelled):
        db.session.execute(delete(UserLabel).where(UserLabel.user_id.in_([row.user_id for row in batch])))
        insert_rows(UserLabel, [{"user_id": row.user_id, "label": label}
                                for row in batch for label in row.changes["labels"]])


def _activate_invited(rows, temporary, *, now, job_id=None):
    """A roster that gives a password to someone only invited so far sets up their account: it
    becomes active (they sign in with that password), and their pending invitation is closed
    as used, with its unsent emails; the row's send_email tells them their account is ready
    (a generated password is always sent: it reaches them no other way)."""
    for batch in chunked(rows):
        invited = dict(db.session.execute(select(User.id, User.language).where(
            User.id.in_([row.user_id for row in batch]), User.status == UserStatus.invited)).all())
        if not invited:
            continue
        db.session.execute(update(User).where(User.id.in_(list(invited)))
                           .values(status=UserStatus.active, updated_at=now)
                           .execution_options(synchronize_session=False))
        pending = db.session.scalars(select(Invitation.id).where(
            Invitation.user_id.in_(list(invited)), Invitation.status == InvitationStatus.pending)).all()
        db.session.execute(update(Invitation).where(Invitation.id.in_(pending))
                           .values(status=InvitationStatus.accepted, responded_at=now, updated_at=now)
                           .execution_options(synchronize_session=False))
        cancel_queued_emails(OutboxEmail.invitation_id.in_(pending), reason="account set up by a roster")
        queue_emails([_account_email(row, temporary, language=invited[row.user_id],
                                     dedupe_key=_one_time_key(row, job_id) if row.generated else None)
                      for row in batch if row.user_id in invited and (row.values["send_email"] or row.generated)],
                     now=now)
        for row in batch:
            if row.user_id in invited:
                row.activated = True


def _languages(user_ids):
    return dict(db.session.execute(select(User.id, User.language).where(User.id.in_(user_ids))).all())


def _join_groups(rows, *, actor, now):
    """Group memberships, which enroll people in the groups' sessions (R2); people who already
    had an account are told in the app, and by email if the row asks (R1)."""
    by_group = {}
    for row in rows:
        for group in row.new_groups:
            by_group.setdefault((group, row.values["send_email"]), []).append(row)
    for (group, send_email), members in by_group.items():
        add_group_members(group, [row.user_id for row in members], actor=actor, now=now, send_email=send_email)
    told = {}
    for row in rows:
        if row.action == "update" and row.new_groups:
            key = (tuple(group.name for group in row.new_groups), row.values["send_email"])
            told.setdefault(key, []).append(row.user_id)
    for (names, send_email), user_ids in told.items():
        users = db.session.scalars(select(User).where(User.id.in_(user_ids))).all()
        tell_existing_members(users, list(names), actor=actor, now=now, send_email=send_email)
