"""The emails of invitations: the invitation, its reminder, R1 notices, set accounts."""
from flask import current_app
from flask_babel import format_date, gettext
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lms.enrollment.groups.services import group_names_by_user
from lms.enrollment.invitations.models import Invitation
from lms.extensions import db
from lms.notifications.render import email_kind
from lms.programs.services import pending_sessions_by_user, pending_sessions_of, session_lines
from lms.tokens import token_from_nonce


def preload_invitations(emails):
    """The invitations a batch of emails names, with inviter and invitee, and the sessions each
    invitee is invited to, in a few queries for the whole batch."""
    ids = {email.invitation_id for email in emails if email.invitation_id}
    if not ids:
        return []
    invitations = db.session.scalars(
        select(Invitation).where(Invitation.id.in_(ids))
        .options(selectinload(Invitation.invited_by), selectinload(Invitation.user))
        .execution_options(populate_existing=True)
    ).all()
    invitee_of = {invitation.id: invitation.user_id for invitation in invitations}
    sessions = pending_sessions_by_user(set(invitee_of.values()))
    for email in emails:
        if email.invitation_id in invitee_of:
            email.invitee_sessions = sessions.get(invitee_of[email.invitation_id], [])
    return invitations + [session for listed in sessions.values() for session in listed]


def _sessions_of_invitee(email, invitation, preview):
    if preview is not None:
        return email.preview_sessions
    preloaded = getattr(email, "invitee_sessions", None)  # set for the batch by preload_invitations
    return preloaded if preloaded is not None else pending_sessions_of(invitation.user_id)


def _invitation_context(email, links):
    preview = getattr(email, "preview_invitation", None)  # the invite form's preview: not saved yet
    invitation = preview or db.session.get(Invitation, email.context["invitation_id"])
    inviter = invitation.invited_by.display_name if invitation.invited_by else None
    token = token_from_nonce(invitation.token_nonce) if preview is None else "preview-link-sent-with-the-email"
    return {
        "invitation": invitation,
        "inviter_name": inviter,
        "message": invitation.message,
        "role": invitation.role.value,
        "group_names": email.context["group_names"] if "group_names" in email.context
        else _current_group_names(invitation.user_id),
        "sessions": session_lines(_sessions_of_invitee(email, invitation, preview)),
        "link": links("registration.invitation", token=token),
        "expires_on": format_date(invitation.expires_at, format="long"),
    }


def _current_group_names(user_id):
    return group_names_by_user([user_id]).get(user_id, [])


@email_kind("invitation", preload=preload_invitations)
def invitation_email(email, links):
    context = _invitation_context(email, links)
    platform = current_app.config["LMS_PLATFORM_NAME"]
    if context["inviter_name"]:
        subject = gettext("%(inviter)s invited you to %(platform)s", inviter=context["inviter_name"], platform=platform)
    else:
        subject = gettext("You are invited to %(platform)s", platform=platform)
    return {**context, "subject": subject}


@email_kind("invitation_reminder", preload=preload_invitations)
def invitation_reminder_email(email, links):
    context = _invitation_context(email, links)
    subject = gettext("Reminder: your invitation to %(platform)s expires on %(date)s",
                      platform=current_app.config["LMS_PLATFORM_NAME"], date=context["expires_on"])
    return {**context, "subject": subject}


@email_kind("added_to_groups")
def added_to_groups_email(email, links):
    names = email.context.get("group_names", [])
    subject = gettext("You have been added to %(groups)s", groups=", ".join(names))
    return {"group_names": names, "inviter_name": email.context.get("inviter_name"),
            "link": links("accounts.home"), "subject": subject}


@email_kind("account_created")
def account_created_email(email, links):
    subject = gettext("Your account on %(platform)s", platform=current_app.config["LMS_PLATFORM_NAME"])
    return {"email_address": email.recipient, "password": email.context.get("password"),
            "group_names": email.context.get("group_names", []),
            "inviter_name": email.context.get("inviter_name"),
            "link": links("accounts.login"), "subject": subject}
