"""What accepting a platform invitation gives: the role, the groups, the sessions, until when
the account is active, and the inviter's own words.

One answer for the registration page and the invitation emails, so that they agree. It reads
the state as it is now: an email queued long ago names the groups and sessions the person is
in when it is sent, not when it was queued. For a batch of emails it takes a few queries
whatever the batch's size (`summarize_invitations`).
"""
from dataclasses import dataclass
from datetime import date

from lms.accounts.models import Role
from lms.enrollment.groups.services import group_names_by_user
from lms.programs.services import pending_sessions_by_user, session_lines


@dataclass(frozen=True)
class InvitationSummary:
    role: str | None  # "manager" or "admin"; None for a learner (the usual case: nothing to say)
    group_names: tuple[str, ...]
    sessions: tuple  # the sessions they are invited to and have not answered (ProgramSession)
    deactivate_on: date | None  # R6: deactivated at the start of that day
    message: str  # the inviter's personal message, as typed (escaped where it is shown)
    inviter_name: str | None

    @property
    def session_lines(self) -> list[dict]:
        """Program, session name and dates of each session, in the current language and time
        zone, soonest first (as the session invitation email writes them)."""
        return session_lines(self.sessions)

    def as_context(self) -> dict:
        """Plain values for a template (an email's context is compared as plain values)."""
        return {"role": self.role, "group_names": list(self.group_names), "sessions": self.session_lines,
                "deactivate_on": self.deactivate_on, "message": self.message,
                "inviter_name": self.inviter_name}


def summary_of(*, role, group_names=(), sessions=(), deactivate_on=None, message="", inviter_name=None):
    """The summary of an invitation described field by field (the invite form's preview, before
    anything is saved)."""
    role = Role(role)
    return InvitationSummary(
        role=None if role == Role.learner else role.value,
        group_names=tuple(group_names),
        sessions=tuple(sorted(sessions, key=lambda session: session.starts_at)),
        deactivate_on=deactivate_on,
        message=(message or "").strip(),
        inviter_name=inviter_name or None,
    )


def summarize_invitations(invitations, *, now=None) -> dict[int, InvitationSummary]:
    """{invitation id: what accepting it gives} at `now` (default: the clock's), in two queries
    for all of them (their `user` and `invited_by` are read: load them with the invitations)."""
    invitations = list(invitations)
    user_ids = {invitation.user_id for invitation in invitations}
    groups = group_names_by_user(user_ids)
    sessions = pending_sessions_by_user(user_ids, now=now)
    return {
        invitation.id: summary_of(
            role=invitation.role,
            group_names=groups.get(invitation.user_id, []),
            sessions=sessions.get(invitation.user_id, []),
            deactivate_on=invitation.user.deactivate_on,
            message=invitation.message,
            inviter_name=invitation.invited_by.display_name if invitation.invited_by else None,
        )
        for invitation in invitations
    }


def summarize_invitation(invitation) -> InvitationSummary:
    """What accepting this invitation gives (the registration page; an email outside a batch)."""
    return summarize_invitations([invitation])[invitation.id]
