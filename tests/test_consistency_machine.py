"""Every answer leaves one consistent state (DESIGN R12, issue 16): random sequences of what HR,
trainers, learners and the clock do, on the real services and database, with the invariants
checked after every step.

Steps: invite (with groups, with or without email), resend, cancel, accept and decline the
platform invitation, add and remove a group member, add a learner to a session directly,
assign and unassign a group, accept and decline a session invitation, and `run-due` (expiries,
reminders, the emails over real SMTP) at a later time. Invariants: no queued invitation email for
an enrollment that is not pending; no pending enrollment none of whose sources is left; a cancelled
or declined invitation leaves nothing it brought; every queued email's target is live; and what
the session page shows of each email (lms.notifications.status) agrees with the rows.
"""
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import exists, select

from lms.accounts.models import User, UserStatus
from lms.due_work import run_due
from lms.enrollment.groups.models import Group, GroupMembership
from lms.enrollment.groups.services import add_group_members, create_group, remove_group_member
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import (
    accept_invitation,
    cancel_invitations,
    decline_invitation,
    invite_people,
    resend_invitations,
)
from lms.errors import DomainError
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.notifications.status import latest_email_states
from lms.programs.cascade import add_learner, assign_group, remove_group
from lms.programs.models import (
    Enrollment,
    EnrollmentGroup,
    EnrollmentStatus,
    Program,
    ProgramSession,
    SessionGroup,
)
from lms.programs.services import respond_to_enrollment, session_roster
from tests.conftest import NOW

EMAILS = ["ann@example.com", "bob@example.com", "cat@example.com"]
GROUPS = ["North", "South"]
# Starts and ends relative to the first step: one soon, one far, one already running.
SESSIONS = [(timedelta(days=2), timedelta(days=3)), (timedelta(days=45), timedelta(days=46)),
            (timedelta(hours=-1), timedelta(days=20))]
PASSWORD = "a-long-enough-password"
INVITATION_KINDS = ("invitation", "invitation_reminder")
# Enough to find, on the code before R12, a cancelled invitation that left its person in a group
# (about a minute on both databases); derandomized, so a run in CI is the run reproduced here.
EXAMPLES = 60

emails = st.sampled_from(EMAILS)
groups = st.sampled_from(range(len(GROUPS)))
sessions = st.sampled_from(range(len(SESSIONS)))


def empty_database():
    db.session.rollback()
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


class Registrations(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        empty_database()
        self.now = NOW
        self.groups = [create_group(name, actor=None, now=NOW).id for name in GROUPS]
        program = Program(title="Safety", created_at=NOW)
        self.sessions = []
        for starts, ends in SESSIONS:
            session = ProgramSession(program=program, name=f"S{len(self.sessions)}", starts_at=NOW + starts,
                                     ends_at=NOW + ends, created_at=NOW)
            db.session.add(session)
            db.session.flush()
            self.sessions.append(session.id)
        db.session.commit()
        # People whose invitation was just cancelled or declined, and nothing added them since.
        self.withdrawn = set()

    # --- helpers ---------------------------------------------------------------------------

    def user(self, email):
        return db.session.scalar(select(User).where(User.email == email))

    def latest_invitation(self, email):
        return db.session.scalar(select(Invitation).join(User, User.id == Invitation.user_id)
                                 .where(User.email == email).order_by(Invitation.id.desc()).limit(1))

    def attempt(self, change):
        """Run one change as a door would: commit it, or roll back what a refusal half did."""
        try:
            result = change()
        except DomainError:
            db.session.rollback()
            return None
        db.session.commit()
        return result

    # --- what people do --------------------------------------------------------------------

    @rule(who=st.lists(emails, min_size=1, max_size=3), into=st.sets(groups, max_size=2), send_email=st.booleans())
    def invite(self, who, into, send_email):
        self.attempt(lambda: invite_people(list(dict.fromkeys(who)), actor=None, now=self.now,
                                           group_ids=[self.groups[g] for g in into], send_email=send_email))
        self.withdrawn -= set(who)

    @rule(email=emails)
    def resend(self, email):
        invitation = self.latest_invitation(email)
        if invitation is not None and self.attempt(lambda: resend_invitations([invitation], actor=None, now=self.now)):
            self.withdrawn.discard(email)

    @rule(email=emails)
    def cancel(self, email):
        invitation = self.latest_invitation(email)
        if invitation is None:
            return
        cancelled, _ = self.attempt(lambda: cancel_invitations([invitation], actor=None, now=self.now))
        if cancelled:
            self.withdrawn.add(email)

    @rule(email=emails)
    def accept(self, email):
        invitation = self.latest_invitation(email)
        if invitation is not None and self.attempt(lambda: accept_invitation(
                invitation, first_name="Pat", last_name="Doe", password=PASSWORD, now=self.now)):
            self.withdrawn.discard(email)

    @rule(email=emails)
    def decline(self, email):
        invitation = self.latest_invitation(email)
        if invitation is None:
            return
        try:
            decline_invitation(invitation, now=self.now)
        except DomainError:
            db.session.rollback()
        else:
            db.session.commit()
            self.withdrawn.add(email)

    @rule(email=emails, group=groups)
    def add_member(self, email, group):
        user = self.user(email)
        if user is not None:
            self.attempt(lambda: add_group_members(db.session.get(Group, self.groups[group]), [user.id],
                                                   actor=None, now=self.now))
            self.withdrawn.discard(email)

    @rule(email=emails, group=groups)
    def remove_member(self, email, group):
        user = self.user(email)
        if user is not None:
            self.attempt(lambda: remove_group_member(db.session.get(Group, self.groups[group]), user,
                                                     actor=None, now=self.now))

    @rule(email=emails, session=sessions)
    def add_learner(self, email, session):
        user = self.user(email)
        if user is not None and self.attempt(lambda: add_learner(
                db.session.get(ProgramSession, self.sessions[session]), user, actor=None, now=self.now)) is not None:
            self.withdrawn.discard(email)

    @rule(group=groups, session=sessions)
    def assign(self, group, session):
        self.attempt(lambda: assign_group(db.session.get(ProgramSession, self.sessions[session]),
                                          db.session.get(Group, self.groups[group]), actor=None, now=self.now))
        members = set(db.session.scalars(select(User.email).join(GroupMembership, GroupMembership.user_id == User.id)
                                         .where(GroupMembership.group_id == self.groups[group])))
        self.withdrawn -= members

    @rule(group=groups, session=sessions)
    def unassign(self, group, session):
        self.attempt(lambda: remove_group(db.session.get(ProgramSession, self.sessions[session]),
                                          db.session.get(Group, self.groups[group]), actor=None, now=self.now))

    @rule(email=emails, session=sessions, accept=st.booleans())
    def answer_session(self, email, session, accept):
        user = self.user(email)
        enrollment = user and db.session.scalar(select(Enrollment).where(
            Enrollment.user_id == user.id, Enrollment.session_id == self.sessions[session]))
        if enrollment is not None:
            self.attempt(lambda: respond_to_enrollment(enrollment, user=user, accept=accept, now=self.now))

    @rule(later=st.sampled_from([timedelta(0), timedelta(hours=5), timedelta(days=3), timedelta(days=31)]))
    def run_due(self, later):
        self.now += later
        run_due(now=self.now)
        db.session.expire_all()

    # --- what must always hold -------------------------------------------------------------

    @invariant()
    def no_queued_invitation_email_for_an_answered_or_cancelled_enrollment(self):
        stale = db.session.execute(
            select(OutboxEmail.recipient, Enrollment.status)
            .join(Enrollment, Enrollment.id == OutboxEmail.enrollment_id)
            .where(OutboxEmail.status == OutboxStatus.queued, Enrollment.status != EnrollmentStatus.invited)).all()
        assert stale == []

    @invariant()
    def no_pending_enrollment_whose_every_source_is_gone(self):
        live_group_source = exists().where(
            EnrollmentGroup.enrollment_id == Enrollment.id,
            exists().where(GroupMembership.group_id == EnrollmentGroup.group_id,
                           GroupMembership.user_id == Enrollment.user_id),
            exists().where(SessionGroup.group_id == EnrollmentGroup.group_id,
                           SessionGroup.session_id == Enrollment.session_id))
        orphans = db.session.execute(
            select(User.email, ProgramSession.name)
            .join(Enrollment, Enrollment.user_id == User.id)
            .join(ProgramSession, ProgramSession.id == Enrollment.session_id)
            .where(Enrollment.status == EnrollmentStatus.invited, Enrollment.is_direct.is_(False),
                   ProgramSession.ends_at > self.now, ~live_group_source)).all()
        assert orphans == []

    @invariant()
    def a_cancelled_or_declined_invitation_leaves_nothing_it_brought(self):
        for email in self.withdrawn:
            user = self.user(email)
            if user.status != UserStatus.invited:
                continue
            assert self.latest_invitation(email).status in (InvitationStatus.cancelled, InvitationStatus.declined)
            groups_left = db.session.scalars(select(GroupMembership.group_id)
                                             .where(GroupMembership.user_id == user.id)).all()
            pending = db.session.scalars(
                select(Enrollment.session_id).join(ProgramSession, ProgramSession.id == Enrollment.session_id)
                .where(Enrollment.user_id == user.id, Enrollment.status == EnrollmentStatus.invited,
                       ProgramSession.ends_at > self.now)).all()
            queued = db.session.scalars(select(OutboxEmail.kind).where(
                OutboxEmail.user_id == user.id, OutboxEmail.status == OutboxStatus.queued)).all()
            assert (email, groups_left, pending, queued) == (email, [], [], [])

    @invariant()
    def every_queued_email_has_a_live_target(self):
        dead_invitations = db.session.execute(
            select(OutboxEmail.recipient, OutboxEmail.kind, Invitation.status)
            .join(Invitation, Invitation.id == OutboxEmail.invitation_id)
            .where(OutboxEmail.status == OutboxStatus.queued, OutboxEmail.kind.in_(INVITATION_KINDS),
                   Invitation.status != InvitationStatus.pending)).all()
        assert dead_invitations == []
        to_gone_accounts = db.session.execute(
            select(OutboxEmail.recipient, OutboxEmail.kind).join(User, User.id == OutboxEmail.user_id)
            .where(OutboxEmail.status == OutboxStatus.queued, User.status == UserStatus.deactivated)).all()
        assert to_gone_accounts == []

    @invariant()
    def the_session_pages_show_the_rows(self):
        """The registration table: each learner's status is their enrollment's, and a pending
        learner whose email is on ("due", "sent") has that email queued or sent: never an
        "invited, due ..." whose email no longer exists."""
        for session_id in self.sessions:
            session = db.session.get(ProgramSession, session_id)
            rows = session_roster(session)
            statuses = dict(db.session.execute(select(Enrollment.id, Enrollment.status)
                                               .where(Enrollment.session_id == session_id)).all())
            assert {row["enrollment"].id: row["enrollment"].status for row in rows} == statuses
            states = latest_email_states(OutboxEmail.enrollment_id, list(statuses), kinds=["session_invitation"],
                                         now=self.now)
            for row in rows:
                enrollment = row["enrollment"]
                if enrollment.status == EnrollmentStatus.invited and enrollment.email_due_at is not None:
                    state = states.get(enrollment.id)
                    assert state is not None and state.word != "cancelled", (row["email"], session.name, state)

    @invariant()
    def the_invitations_list_shows_the_rows(self):
        """A pending invitation sent with its email shows that email as queued or sent, never
        as cancelled; one sent without shows none."""
        invitations = db.session.scalars(select(Invitation).where(Invitation.status == InvitationStatus.pending)).all()
        states = latest_email_states(OutboxEmail.invitation_id, [inv.id for inv in invitations],
                                     kinds=["invitation"], now=self.now)
        for invitation in invitations:
            state = states.get(invitation.id)
            if invitation.send_email:
                assert state is not None and state.word != "cancelled", (invitation.user.email, state)
            else:
                assert state is None and invitation.sent_at is None, invitation.user.email


def test_every_sequence_of_answers_leaves_one_consistent_state(app, smtp_server):
    run_state_machine_as_test(Registrations, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=30, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
