"""The emails of the enrollment domain: invitations, reminders, R1 notices, set accounts."""
from flask import current_app
from flask_babel import format_date, gettext

from lms.enrollment.models import Invitation
from lms.extensions import db
from lms.notifications.render import email_kind
from lms.i18n import format_instant
from lms.programs.services import SESSION_START_FORMAT, pending_sessions_of, session_lines
from lms.tokens import token_from_nonce


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
        "sessions": session_lines(getattr(email, "preview_sessions", None) if preview is not None
                                  else pending_sessions_of(invitation.user_id)),
        "link": links("registration.invitation", token=token),
        "expires_on": format_date(invitation.expires_at, format="long"),
    }


def _current_group_names(user_id):
    from lms.enrollment.groups import group_names_by_user

    return group_names_by_user([user_id]).get(user_id, [])


@email_kind("invitation")
def invitation_email(email, links):
    context = _invitation_context(email, links)
    platform = current_app.config["LMS_PLATFORM_NAME"]
    if context["inviter_name"]:
        subject = gettext("%(inviter)s invited you to %(platform)s", inviter=context["inviter_name"], platform=platform)
    else:
        subject = gettext("You are invited to %(platform)s", platform=platform)
    return {**context, "subject": subject}


@email_kind("invitation_reminder")
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


@email_kind("link_signup")
def link_signup_email(email, links):
    """A newcomer who joined through an invite link confirms their address."""
    from lms.enrollment.invite_links import describe_target
    from lms.enrollment.models import LinkSignup

    signup = db.session.get(LinkSignup, email.context["signup_id"])
    # SQLite may give a discarded sign-up's id to a newer one: the key names the token too.
    if signup is None or not email.dedupe_key.endswith(f":{signup.token_hash[:16]}"):
        raise LookupError("the sign-up it confirms has been completed or discarded since")
    target = describe_target(signup.link)
    subject = gettext("Confirm your email address to join %(name)s", name=target["name"])
    return {"target": target, "first_name": signup.first_name,
            "link": links("joining.confirm", token=token_from_nonce(signup.token_nonce)),
            "expires_at": format_instant(signup.expires_at, SESSION_START_FORMAT), "subject": subject}


@email_kind("link_existing_account")
def link_existing_account_email(email, links):
    """Someone used an invite link's newcomer form with an address that has an account: the
    owner learns how to join (sign in, or finish their invitation) and nobody else learns
    that the account exists."""
    from lms.enrollment.invite_links import describe_target, link_token
    from lms.enrollment.models import InviteLink

    link = db.session.get(InviteLink, email.context["link_id"])
    invitation = db.session.get(Invitation, email.context["invitation_id"]) if email.context.get("invitation_id") else None
    target = describe_target(link)
    subject = gettext("You already have an account on %(platform)s", platform=current_app.config["LMS_PLATFORM_NAME"])
    return {"target": target, "email_address": email.recipient, "subject": subject,
            "link": links("registration.invitation", token=token_from_nonce(invitation.token_nonce)) if invitation
            else links("joining.landing", token=link_token(link)),
            "has_invitation": invitation is not None}
