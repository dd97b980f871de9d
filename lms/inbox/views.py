"""Each person's inbox: what happened to them, and the session invitations to answer."""
from flask import Blueprint, render_template, request, url_for
from flask_login import current_user, login_required

from lms.clock import utcnow
from lms.db_utils import as_ids
from lms.extensions import db
from lms.inbox.services import changeable_answers, mark_notices_read, pending_enrollments, unread_notices
from lms.web import redirect_after_post, wants_fragment

bp = Blueprint("inbox", __name__)


@bp.route("/inbox")
@login_required
def index():
    """A person reads what happened to them and answers session invitations."""
    now = utcnow()
    return render_template("inbox/inbox.html", notices=unread_notices(current_user), now=now,
                           enrollments=pending_enrollments(current_user),
                           answered=changeable_answers(current_user, now=now))


@bp.route("/inbox/notices/read", methods=["POST"])
@login_required
def mark_read():
    """Dismiss one notice (or all, without an id)."""
    ids = as_ids(request.form.getlist("notice_id"))
    if not ids:
        ids = [notice.id for notice in unread_notices(current_user)]
    mark_notices_read(current_user, ids, now=utcnow())
    db.session.commit()
    if wants_fragment("inbox-notices"):
        return render_template("inbox/partials/_notices.html", notices=unread_notices(current_user))
    return redirect_after_post(url_for("inbox.index"))
