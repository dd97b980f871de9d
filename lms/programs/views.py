"""A learner's own sessions: answering a session invitation from the inbox or the email link."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from lms.clock import utcnow
from lms.errors import DomainError
from lms.extensions import db
from lms.i18n import use_language
from lms.programs.models import Enrollment, EnrollmentStatus
from lms.programs.services import (
    find_enrollment,
    may_change_answer,
    pending_platform_invitation,
    registration_link,
    respond_to_enrollment,
)
from lms.web import get_or_404, redirect_after_post, render, wants_fragment

bp = Blueprint("programs", __name__)


def _own_enrollment(enrollment_id):
    enrollment = get_or_404(Enrollment, enrollment_id)
    if enrollment.user_id != current_user.id:
        abort(403)
    return enrollment


@bp.route("/my/enrollments/<int:enrollment_id>")
@login_required
def enrollment_item(enrollment_id):
    """One session invitation as the inbox lists it ("Keep my answer" goes back to it)."""
    enrollment = _own_enrollment(enrollment_id)
    if wants_fragment(f"enrollment-{enrollment.id}"):
        return render_template("inbox/partials/_enrollment.html", enrollment=enrollment, now=utcnow())
    return redirect(url_for("inbox.index"))


@bp.route("/my/enrollments/<int:enrollment_id>/<any(accept, decline):answer>", methods=["POST"])
@login_required
def enrollment_answer(enrollment_id, answer):
    """A learner accepts or declines a session they were invited to, or changes their answer
    before it starts. Declining asks first."""
    enrollment = _own_enrollment(enrollment_id)
    if answer == "decline" and request.form.get("confirm") != "yes":
        return render("inbox/confirm_decline.html", "inbox/partials/_confirm_decline.html",
                       [f"enrollment-{enrollment.id}"], enrollment=enrollment, now=utcnow())
    try:
        respond_to_enrollment(enrollment, user=current_user, accept=answer == "accept", now=utcnow())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        session_name = f"{enrollment.session.program.title}: {enrollment.session.name}"
        if answer == "accept":
            flash(_("You accepted %(session)s.", session=session_name), "success")
        else:
            flash(_("You declined %(session)s.", session=session_name), "success")
    if wants_fragment(f"enrollment-{enrollment.id}"):
        return render_template("inbox/partials/_enrollment.html", enrollment=enrollment, now=utcnow())
    return redirect_after_post(url_for("inbox.index"))


@bp.route("/session-invitation/<token>", methods=["GET", "POST"])
def session_invitation(token):
    """The link in a session invitation email: the session's dates, then Accept or Decline.

    Opening the link changes nothing (mail scanners open links too); the answer is a POST,
    followed by a redirect to the page (so reloading it does not send the answer again).
    Someone who has not created their account yet is sent to their platform invitation first.
    """
    enrollment = find_enrollment(token)
    if enrollment is None:
        return render_template("programs/session_invitation.html", enrollment=None), 404
    user = enrollment.user
    use_language(user.language)
    invitation = pending_platform_invitation(user)
    now = utcnow()
    if request.method == "POST" and invitation is None:
        answer = request.form.get("answer")
        if answer not in ("accept", "decline"):
            abort(400)
        if answer == "decline" and request.form.get("confirm") != "yes":
            return render_template("programs/session_invitation.html", enrollment=enrollment, invitation=None,
                                   token=token, confirm_decline=True, may_change=may_change_answer(enrollment, now))
        try:
            respond_to_enrollment(enrollment, user=user, accept=answer == "accept", now=now)
        except DomainError as error:
            db.session.rollback()
            if enrollment.status != EnrollmentStatus.cancelled:  # the page itself says withdrawn
                flash(error.message, "error")
        else:
            db.session.commit()
    if request.method == "POST":
        return redirect(url_for("programs.session_invitation", token=token), 303)
    return render_template("programs/session_invitation.html", enrollment=enrollment, invitation=invitation,
                           registration_link=registration_link(invitation, then=request.path), token=token,
                           may_change=may_change_answer(enrollment, now))
