"""The emails of accounts: the Forgot password link."""
from flask import current_app
from flask_babel import gettext

from lms.accounts.models import PasswordReset
from lms.extensions import db
from lms.notifications.render import email_kind
from lms.tokens import token_from_nonce


@email_kind("password_reset")
def password_reset_email(email, links):
    reset = db.session.get(PasswordReset, email.context["reset_id"])
    if reset is None:
        raise LookupError("the reset link of this email no longer exists")
    minutes = current_app.config["LMS_PASSWORD_RESET_MINUTES"]
    subject = gettext("Choose a new password for %(platform)s", platform=current_app.config["LMS_PLATFORM_NAME"])
    return {"name": reset.user.first_name, "email_address": email.recipient, "minutes": minutes,
            "link": links("accounts.reset_password", token=token_from_nonce(reset.token_nonce)),
            "subject": subject}
