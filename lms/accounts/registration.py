"""Public pages of an invitation: register through it, or decline it (R8, R9).

They speak the invitation's language, and a dead token (used, declined, cancelled, expired,
unknown) gets a page that says which and who to ask.
"""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from lms.accounts.forms import RegistrationForm
from lms.accounts.views import safe_next
from lms.clock import utcnow
from lms.enrollment.invitations.models import InvitationStatus
from lms.enrollment.invitations.services import (
    accept_invitation,
    decline_invitation,
    effective_status,
    find_invitation,
)
from lms.enrollment.invitations.summary import summarize_invitation
from lms.errors import DomainError
from lms.extensions import db
from lms.i18n import use_language
from lms.web import attach_error

bp = Blueprint("registration", __name__)


def _dead(invitation, status, code=410):
    return render_template("accounts/invitation_dead.html", invitation=invitation, status=status), code


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def invitation(token):
    """An invitee opens the link from their email and registers: names and a password."""
    invitation = find_invitation(token)
    if invitation is None:
        return _dead(None, None, 404)
    use_language(invitation.language)
    now = utcnow()
    status = effective_status(invitation, now)
    if status != InvitationStatus.pending:
        return _dead(invitation, status)
    if current_user.is_authenticated:
        return render_template("accounts/invitation_other_user.html", invitation=invitation, token=token), 409
    form = RegistrationForm(obj=invitation.user)
    if form.validate_on_submit():
        try:
            user = accept_invitation(invitation, first_name=form.first_name.data,
                                     last_name=form.last_name.data, password=form.password.data, now=now)
        except DomainError as error:
            db.session.rollback()
            if error.field:
                attach_error(form, error)
            else:  # used or expired meanwhile (a second click, another tab)
                return _dead(invitation, effective_status(invitation, now))
        else:
            db.session.commit()
            login_user(user)
            flash(_("Welcome, %(name)s. Your account is ready.", name=user.first_name), "success")
            # From a session email, back to the session to answer it.
            return redirect(safe_next(request.args.get("next")) or url_for("accounts.home"), 303)
    status_code = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/invitation.html", invitation=invitation, form=form, token=token,
                           summary=summarize_invitation(invitation)), status_code


@bp.route("/invitation/<token>/decline", methods=["POST"])
def invitation_decline(token):
    """An invitee declines: the invitation ends and nothing more is sent to them."""
    invitation = find_invitation(token)
    if invitation is None:
        return _dead(None, None, 404)
    use_language(invitation.language)
    now = utcnow()
    try:
        decline_invitation(invitation, now=now)
    except DomainError:
        db.session.rollback()
        return _dead(invitation, effective_status(invitation, now))
    db.session.commit()
    return render_template("accounts/invitation_declined.html", invitation=invitation)
