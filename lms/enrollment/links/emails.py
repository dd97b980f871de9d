"""The emails of invite links: a newcomer confirms their address; an account holder learns how to join."""
from flask import current_app
from flask_babel import gettext

from lms.enrollment.invitations.emails import preload_invitations
from lms.enrollment.invitations.models import Invitation
from lms.enrollment.links.models import InviteLink, LinkSignup
from lms.enrollment.links.services import describe_target, link_token
from lms.extensions import db
from lms.i18n import format_instant
from lms.notifications.render import email_kind
from lms.programs.services import SESSION_START_FORMAT
from lms.tokens import token_from_nonce


@email_kind("link_signup")
def link_signup_email(email, links):
    """A newcomer who joined through an invite link confirms their address."""
    signup = db.session.get(LinkSignup, email.context["signup_id"])
    # SQLite may give a discarded sign-up's id to a newer one: the key names the token too.
    if signup is None or not email.dedupe_key.endswith(f":{signup.token_hash[:16]}"):
        raise LookupError("the sign-up it confirms has been completed or discarded since")
    target = describe_target(signup.link)
    subject = gettext("Confirm your email address to join %(name)s", name=target["name"])
    return {"target": target, "first_name": signup.first_name,
            "link": links("joining.confirm", token=token_from_nonce(signup.token_nonce)),
            "expires_at": format_instant(signup.expires_at, SESSION_START_FORMAT), "subject": subject}


@email_kind("link_existing_account", preload=preload_invitations)
def link_existing_account_email(email, links):
    """Someone used an invite link's newcomer form with an address that has an account: the
    owner learns how to join (sign in, or finish their invitation) and nobody else learns
    that the account exists."""
    link = db.session.get(InviteLink, email.context["link_id"])
    invitation = db.session.get(Invitation, email.context["invitation_id"]) if email.context.get("invitation_id") else None
    target = describe_target(link)
    subject = gettext("You already have an account on %(platform)s", platform=current_app.config["LMS_PLATFORM_NAME"])
    return {"target": target, "email_address": email.recipient, "subject": subject,
            "link": links("registration.invitation", token=token_from_nonce(invitation.token_nonce)) if invitation
            else links("joining.landing", token=link_token(link)),
            "has_invitation": invitation is not None}
