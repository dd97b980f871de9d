"""The emails of invitations: the invitation, its reminder, R1 notices, set accounts."""
from flask import current_app
from flask_babel import format_date, gettext
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lms.enrollment.invitations.models import Invitation
from lms.enrollment.invitations.summary import summarize_invitation, summarize_invitations, summary_of
from lms.extensions import db
from lms.notifications.render import email_kind
from lms.notifications.sealed import SEALED_PASSWORD, unseal
from lms.tokens import token_from_nonce


def preload_invitations(emails, now):
    """The invitations a batch of emails names, with inviter and invitee, and what each gives
    (groups, sessions: lms.enrollment.invitations.summary), in a few queries for the whole
    batch, read as they are now: when the emails go, not when they were queued."""
    ids = {email.invitation_id for email in emails if email.invitation_id}
    if not ids:
        return []
    invitations = db.session.scalars(
        select(Invitation).where(Invitation.id.in_(ids))
        .options(selectinload(Invitation.invited_by), selectinload(Invitation.user))
        .execution_options(populate_existing=True)
    ).all()
    summaries = summarize_invitations(invitations, now=now)
    for email in emails:
        if email.invitation_id in summaries:
            email.invitation_summary = summaries[email.invitation_id]
    return invitations + [session for summary in summaries.values() for session in summary.sessions]


def _summary(email, invitation, preview):
    if preview is not None:  # the invite form's preview: what the form says, nothing saved yet
        return summary_of(role=invitation.role, group_names=email.context.get("group_names", []),
                          sessions=email.preview_sessions, deactivate_on=getattr(invitation, "deactivate_on", None),
                          message=invitation.message,
                          inviter_name=invitation.invited_by.display_name if invitation.invited_by else None)
    preloaded = getattr(email, "invitation_summary", None)  # set for the batch by preload_invitations
    return preloaded if preloaded is not None else summarize_invitation(invitation)


def _invitation_context(email, links):
    preview = getattr(email, "preview_invitation", None)  # the invite form's preview: not saved yet
    invitation = preview or db.session.get(Invitation, email.context["invitation_id"])
    token = token_from_nonce(invitation.token_nonce) if preview is None else "preview-link-sent-with-the-email"
    return {
        **_summary(email, invitation, preview).as_context(),
        "link": links("registration.invitation", token=token),
        "expires_on": format_date(invitation.expires_at, format="long"),
    }


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
    sealed = email.context.get(SEALED_PASSWORD)
    password = unseal(sealed) if sealed else email.context.get("password")
    return {"email_address": email.recipient, "password": password,
            "must_change": bool(email.context.get("must_change")),
            "password_renewed": bool(email.context.get("password_renewed")),
            "group_names": email.context.get("group_names", []),
            "inviter_name": email.context.get("inviter_name"),
            "link": links("accounts.login"), "subject": subject}
