"""The data set bench/pages.py serves: a platform of N people, written in bulk.

Per issue 19, for N people: every one invited (a pending invitation each, their email sent),
a group of N/2 of them assigned to the 3 sessions of a program (so each session has N/2
registrations, mostly still invited, some accepted or declined), 2.5 N outbox rows (an
invitation email per person and a session invitation per registration: mostly sent, a tenth
queued for tomorrow), about N audit events (one per invitation, plus the setup's), a label per
person, 9 small groups, 3 finished roster imports (one naming the N/2 group members, so its
report has N/2 people), an invite link to the big group; plus an admin and a learner who sign in.
One of the N people is the learner: active, in the big group, with three session invitations
to answer and three unread notices.

Rows are written a batch at a time (Core executemany on SQLite, COPY through
lms.db_utils.insert_rows on PostgreSQL) with ids chosen here, so no row is read back; on
PostgreSQL the id sequences are moved past them afterwards. Everyone with a password shares
one hash, computed once.
"""
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from lms.accounts.models import Role, User, UserLabel, UserStatus
from lms.audit.models import AuditEvent
from lms.db_utils import insert_rows
from lms.enrollment.groups.models import Group, GroupMembership
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.links.models import InviteLink, InviteLinkTarget
from lms.enrollment.rosters.models import ImportJob, ImportJobRow, ImportJobStatus, ImportRowOutcome
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus, UserNotice
from lms.programs.models import (
    Enrollment,
    EnrollmentGroup,
    EnrollmentStatus,
    Program,
    ProgramSession,
    SessionGroup,
)
from lms.tokens import hash_token, token_from_nonce

PASSWORD = "bench-password"
ADMIN_EMAIL = "admin@example.com"
LEARNER_EMAIL = "learner@example.com"
RARE_NAME = "Quillfeather"  # one person in 1,000 has it (ids 7, 1007, ...): the users search finds few
SEARCH_WORD = RARE_NAME.lower()
BATCH = 10_000
ADMIN_ID, LEARNER_ID = 1, 2  # the N people are ids 2 .. N + 1; the first of them is the learner
SMALL_GROUPS, SMALL_GROUP_SIZE = 9, 25
SESSIONS = 3

FIRST_NAMES = ["Ada", "Ben", "Chloé", "Dara", "Emil", "Fatou", "Gita", "Hugo", "Inès", "Jonas", "Kofi", "Lea",
               "Mateo", "Nora", "Omar", "Pia", "Rosa", "Sami", "Tess", "Umar", "Vera", "Wout", "Yusuf", "Zoë"]
SYLLABLES = ["van", "der", "berg", "mo", "ra", "li", "ken", "sa", "to", "vi", "el", "an", "dre", "ma", "ni",
             "ko", "be", "lu", "ser", "ten"]
LABELS = ["North", "South", "East", "West"]


@dataclass
class Dataset:
    """What the pages need to know of the data set: ids, the join token, row counts."""

    size: int
    big_group_id: int
    session_id: int
    user_id: int  # a person in the big group with a pending invitation (the user page)
    import_job_id: int  # the import that named the N/2 group members
    join_token: str
    rows: dict  # table name: rows written


def build_dataset(size, *, secret_key, now=None):
    """Write the data set for `size` people into the (empty, migrated) database of the app
    in context; returns its Dataset."""
    now = now or datetime.now(timezone.utc)
    writer = _Writer()
    builder = _Builder(size, writer, secret_key, now)
    builder.write()
    writer.finish()
    return Dataset(size=size, big_group_id=1, session_id=1, user_id=LEARNER_ID + size // 4 + 1,
                   import_job_id=1, join_token=builder.join_token, rows=writer.counts)


class _Writer:
    """Bulk inserts a batch at a time, and the row counts; on PostgreSQL, the sequences after."""

    def __init__(self):
        self.postgresql = db.session.get_bind().dialect.name == "postgresql"
        self.counts = {}

    def insert(self, model, rows):
        rows = iter(rows)
        while batch := list(islice(rows, BATCH)):
            if self.postgresql:
                insert_rows(model, batch)  # COPY
            else:
                db.session.execute(sa.insert(model.__table__), batch)  # executemany, no RETURNING
            self.counts[model.__tablename__] = self.counts.get(model.__tablename__, 0) + len(batch)
        db.session.commit()

    def finish(self):
        if not self.postgresql:
            return
        for table in db.metadata.sorted_tables:
            if "id" in table.c and table.c.id.primary_key and isinstance(table.c.id.type, sa.Integer):
                db.session.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM \"{table.name}\"), 0) + 1, false)"))
        db.session.commit()


def _name(number):
    if number % 1000 == 7:
        return FIRST_NAMES[number % len(FIRST_NAMES)], RARE_NAME
    n = number * 7919
    last = "".join(SYLLABLES[(n // 20 ** k) % len(SYLLABLES)] for k in range(3)).capitalize()
    return FIRST_NAMES[(number * 31) % len(FIRST_NAMES)], last


class _Builder:
    def __init__(self, size, writer, secret_key, now):
        self.size, self.writer, self.secret_key, self.now = size, writer, secret_key, now
        self.half = max(1, size // 2)
        self.password_hash = generate_password_hash(PASSWORD)
        self.join_token = None
        # Invitations went out over the last 10 days, one after the other.
        self.step = timedelta(days=10) / max(1, size)

    # --- helpers -----------------------------------------------------------------------------

    def people(self):
        """The N people's ids, the learner first."""
        return range(LEARNER_ID, LEARNER_ID + self.size)

    def email(self, user_id):
        return LEARNER_EMAIL if user_id == LEARNER_ID else f"person{user_id:07d}@example.com"

    def token_pair(self):
        nonce = secrets.token_urlsafe(32)
        return nonce, hash_token(token_from_nonce(nonce, self.secret_key))

    def invited_at(self, user_id):
        return self.now - timedelta(days=10) + self.step * (user_id - LEARNER_ID)

    # --- the tables, in foreign-key order ----------------------------------------------------

    def write(self):
        self.write_users()
        self.write_groups()
        self.write_program()
        self.write_invitations()
        self.write_enrollments()
        self.write_link_and_imports()
        self.write_outbox()
        self.write_audit()
        self.write_notices()

    def write_users(self):
        def row(user_id, email, first, last, role, status, password_hash):
            return {"id": user_id, "email": email, "first_name": first, "last_name": last, "language": "en",
                    "role": role, "status": status, "password_hash": password_hash, "deactivate_on": None,
                    "external_id": f"HR{user_id:08d}", "additional_info": "", "created_at": self.now,
                    "updated_at": self.now, "last_login_at": None, "session_version": 0,
                    "must_change_password": False}

        def rows():
            yield row(ADMIN_ID, ADMIN_EMAIL, "Ada", "Admin", Role.admin, UserStatus.active, self.password_hash)
            for user_id in self.people():
                first, last = ("Lena", "Learner") if user_id == LEARNER_ID else _name(user_id)
                active = user_id == LEARNER_ID
                yield row(user_id, self.email(user_id), first, last, Role.learner,
                          UserStatus.active if active else UserStatus.invited, self.password_hash if active else None)

        self.writer.insert(User, rows())
        self.writer.insert(UserLabel, ({"user_id": user_id, "label": LABELS[user_id % len(LABELS)]}
                                       for user_id in self.people()))

    def write_groups(self):
        names = ["Everyone (half)"] + [f"Team {number:02d}" for number in range(1, SMALL_GROUPS + 1)]
        self.writer.insert(Group, ({"id": number, "name": name, "name_key": name.casefold(),
                                    "public_id": f"G-B{number:05d}", "created_at": self.now - timedelta(days=11),
                                    "open_to_trainers": False} for number, name in enumerate(names, 1)))

        def memberships():
            for user_id in range(LEARNER_ID, LEARNER_ID + self.half):
                yield {"group_id": 1, "user_id": user_id, "added_by_id": ADMIN_ID,
                       "created_at": self.invited_at(user_id)}
            others = list(range(LEARNER_ID + self.half, LEARNER_ID + self.size))
            for number in range(SMALL_GROUPS):
                for user_id in others[number * SMALL_GROUP_SIZE:(number + 1) * SMALL_GROUP_SIZE]:
                    yield {"group_id": number + 2, "user_id": user_id, "added_by_id": ADMIN_ID,
                           "created_at": self.invited_at(user_id)}

        self.writer.insert(GroupMembership, memberships())

    def write_program(self):
        self.writer.insert(Program, [{"id": 1, "title": "Onboarding", "description": "The bench's program.",
                                      "owner_id": ADMIN_ID, "archived_at": None,
                                      "created_at": self.now - timedelta(days=11)}])
        self.writer.insert(ProgramSession, ({
            "id": number, "program_id": 1, "name": f"Session {number}",
            "starts_at": self.now + timedelta(days=10 * number),
            "ends_at": self.now + timedelta(days=10 * number, hours=3), "archived_at": None,
            "created_at": self.now - timedelta(days=11)} for number in range(1, SESSIONS + 1)))
        self.writer.insert(SessionGroup, ({"session_id": number, "group_id": 1, "added_by_id": ADMIN_ID,
                                           "created_at": self.now - timedelta(days=10)}
                                          for number in range(1, SESSIONS + 1)))

    def write_invitations(self):
        """Invitation i is person i's (ids match: invitation id = user id - 1)."""
        self.invitation_hashes = {}

        def rows():
            for user_id in self.people():
                nonce, token_hash = self.token_pair()
                self.invitation_hashes[user_id] = token_hash[:16]
                sent = self.invited_at(user_id)
                accepted = user_id == LEARNER_ID
                yield {"id": user_id - 1, "user_id": user_id,
                       "status": InvitationStatus.accepted if accepted else InvitationStatus.pending,
                       "role": Role.learner, "language": "en", "message": "", "invited_by_id": ADMIN_ID,
                       "invite_link_id": None, "token_nonce": nonce, "token_hash": token_hash, "send_email": True,
                       "sent_at": sent, "expires_at": sent + timedelta(days=30), "reminder_sent_at": None,
                       "responded_at": sent + timedelta(hours=1) if accepted else None, "cancelled_at": None,
                       "withdrawn": None, "created_at": sent, "updated_at": sent}

        self.writer.insert(Invitation, rows())

    def enrollment_id(self, session_id, member):
        return (session_id - 1) * self.half + member + 1

    def write_enrollments(self):
        """Each session registers the big group's N/2 members: 7 in 10 invited, 2 accepted, 1 declined
        (the learner: invited to all three)."""
        self.enrollment_hashes = {}
        statuses = [EnrollmentStatus.invited] * 7 + [EnrollmentStatus.accepted] * 2 + [EnrollmentStatus.declined]

        def rows():
            for session_id in range(1, SESSIONS + 1):
                for member in range(self.half):
                    user_id = LEARNER_ID + member
                    enrollment_id = self.enrollment_id(session_id, member)
                    status = EnrollmentStatus.invited if user_id == LEARNER_ID else statuses[enrollment_id % 10]
                    nonce, token_hash = self.token_pair()
                    self.enrollment_hashes[enrollment_id] = token_hash[:16]
                    created = self.now - timedelta(days=10)
                    yield {"id": enrollment_id, "session_id": session_id, "user_id": user_id, "status": status,
                           "is_direct": False, "token_nonce": nonce, "token_hash": token_hash,
                           "email_due_at": created, "email_sent_at": created + timedelta(minutes=5),
                           "responded_at": None if status == EnrollmentStatus.invited else created + timedelta(days=1),
                           "created_at": created, "updated_at": created}

        self.writer.insert(Enrollment, rows())
        self.writer.insert(EnrollmentGroup, ({"enrollment_id": self.enrollment_id(session_id, member), "group_id": 1}
                                             for session_id in range(1, SESSIONS + 1) for member in range(self.half)))

    def write_link_and_imports(self):
        nonce = secrets.token_urlsafe(32)
        self.join_token = token_from_nonce(nonce, self.secret_key)
        self.writer.insert(InviteLink, [{
            "id": 1, "token_nonce": nonce, "token_hash": hash_token(self.join_token), "target": InviteLinkTarget.group,
            "group_id": 1, "session_id": None, "role": Role.learner, "allowed_domain": None, "deactivate_on": None,
            "expires_at": None, "max_uses": None, "use_count": 0, "is_self_registration": False, "revoked_at": None,
            "created_by_id": ADMIN_ID, "created_at": self.now - timedelta(days=10)}])
        # (id, file, lines): the big group's members created; then an update and a small file.
        small = list(range(LEARNER_ID + self.half, LEARNER_ID + self.size))
        jobs = [(1, "everyone.xlsx", [(user_id, ImportRowOutcome.created)
                                      for user_id in range(LEARNER_ID, LEARNER_ID + self.half)]),
                (2, "changes.csv", [(user_id, [ImportRowOutcome.updated, ImportRowOutcome.unchanged,
                                               ImportRowOutcome.skipped][number % 3])
                                    for number, user_id in enumerate(small[:100])]),
                (3, "newcomers.csv", [(user_id, ImportRowOutcome.created) for user_id in small[100:120]])]
        self.import_jobs = [(job_id, len(lines)) for job_id, _, lines in jobs]

        def job_row(job_id, filename, lines):
            counts = {outcome: sum(1 for _, o in lines if o == outcome) for outcome in ImportRowOutcome}
            created = self.now - timedelta(days=10, hours=-job_id)
            return {"id": job_id, "created_by_id": ADMIN_ID, "source": filename.rsplit(".", 1)[1], "filename": filename,
                    "mode": "create", "is_dry_run": False, "is_strict": False,
                    "options": {"columns": ["email", "first_name", "last_name", "groups"]},
                    "status": ImportJobStatus.finished, "rows_total": len(lines), "rows_checked": len(lines),
                    "rows_processed": len(lines), "created_count": counts[ImportRowOutcome.created],
                    "updated_count": counts[ImportRowOutcome.updated],
                    "unchanged_count": counts[ImportRowOutcome.unchanged],
                    "skipped_count": counts[ImportRowOutcome.skipped], "rejected_count": 0,
                    "emails_queued": counts[ImportRowOutcome.created], "errors": [], "preview": None,
                    "failure_message": None, "locked_by": None, "created_at": created, "started_at": created,
                    "finished_at": created + timedelta(seconds=30)}

        self.writer.insert(ImportJob, [job_row(*job) for job in jobs])
        self.writer.insert(ImportJobRow, ({"job_id": job_id, "line": line, "outcome": outcome, "user_id": user_id,
                                           "email": self.email(user_id)}
                                          for job_id, _, lines in jobs
                                          for line, (user_id, outcome) in enumerate(lines, 2)))

    def write_outbox(self):
        """An invitation email per person, a session invitation per registration: one in ten queued."""
        tomorrow = self.now + timedelta(days=1)

        def email(number, due, **row):
            queued = number % 10 == 9
            return {"id": number, "language": "en", "status": OutboxStatus.queued if queued else OutboxStatus.sent,
                    "due_at": tomorrow if queued else due, "next_attempt_at": tomorrow if queued else due,
                    "locked_by": None, "attempts": 0 if queued else 1, "last_error": None,
                    "sent_at": None if queued else due + timedelta(seconds=20), "created_at": due, **row}

        def rows():
            number = 0
            for user_id in self.people():
                number += 1
                invitation_id = user_id - 1
                groups = ["Everyone (half)"] if user_id < LEARNER_ID + self.half else []
                yield email(number, self.invited_at(user_id), recipient=self.email(user_id), user_id=user_id,
                            kind="invitation", context={"invitation_id": invitation_id, "group_names": groups},
                            invitation_id=invitation_id, enrollment_id=None,
                            dedupe_key=f"invitation:{invitation_id}:{self.invitation_hashes[user_id]}")
            for session_id in range(1, SESSIONS + 1):
                for member in range(self.half):
                    number += 1
                    enrollment_id = self.enrollment_id(session_id, member)
                    user_id = LEARNER_ID + member
                    key = f"session_invitation:{enrollment_id}:{self.enrollment_hashes[enrollment_id]}"
                    yield email(number, self.now - timedelta(days=10), recipient=self.email(user_id), user_id=user_id,
                                kind="session_invitation", context={"enrollment_id": enrollment_id},
                                invitation_id=None, enrollment_id=enrollment_id, dedupe_key=key)

        self.writer.insert(OutboxEmail, rows())

    def write_audit(self):
        setup = self.now - timedelta(days=11)

        def event(action, target_type, target_id, when, user_id=None, **details):
            return {"actor_id": ADMIN_ID, "user_id": user_id, "action": action, "target_type": target_type,
                    "target_id": target_id, "details": details, "created_at": when}

        def rows():
            for group_id in range(1, SMALL_GROUPS + 2):
                yield event("group.created", "group", group_id, setup, name=f"group {group_id}")
            yield event("program.created", "program", 1, setup, title="Onboarding")
            for session_id in range(1, SESSIONS + 1):
                yield event("session.created", "session", session_id, setup, program_id=1)
                yield event("session.group_assigned", "session", session_id, setup, group_id=1)
            yield event("invite_link.created", "invite_link", 1, setup, target="group")
            for job_id, lines in self.import_jobs:
                yield event("roster.imported", "user", None, setup, mode="create", rows=lines, job_id=job_id)
            for user_id in self.people():
                yield event("invitation.created", "invitation", user_id - 1, self.invited_at(user_id), user_id=user_id,
                            role="learner")

        self.writer.insert(AuditEvent, ({"id": number, **row} for number, row in enumerate(rows(), 1)))

    def write_notices(self):
        context = {"group_names": ["Everyone (half)"], "inviter_name": "Ada Admin"}
        self.writer.insert(UserNotice, ({"id": number, "user_id": LEARNER_ID, "kind": "added_to_groups",
                                         "context": context, "created_at": self.now - timedelta(days=number),
                                         "read_at": None} for number in range(1, 4)))
