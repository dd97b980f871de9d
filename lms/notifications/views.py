"""The outbox admin pages: every email the platform sends, its status, and a retry."""
import re

from flask import Blueprint, flash, render_template, request, url_for
from sqlalchemy import select

from lms.accounts.models import Role
from lms.clock import utcnow
from lms.extensions import db
from lms.forms import choices
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.notifications.outbox import retry_email
from lms.notifications.render import render_email
from lms.web import get_or_404, list_args, paginate, redirect_after_post, render, roles_required

bp = Blueprint("notifications", __name__)

EMAILS_PER_PAGE = 50
LINK = re.compile(r"https?://[^\s<>\"']+")


@bp.route("/admin/outbox")
@roles_required(Role.admin)
def outbox():
    """An admin sees every email the platform sends or will send, with its status and error."""
    status = request.args.get("status", "")
    query = select(OutboxEmail)
    if status in OutboxStatus.__members__:
        query = query.where(OutboxEmail.status == OutboxStatus(status))
    q = request.args.get("q", "").strip().lower()[:200]
    if q:
        query = query.where(OutboxEmail.recipient.contains(q, autoescape=True))
    pagination = paginate(query.order_by(OutboxEmail.id.desc()), per_page=EMAILS_PER_PAGE)
    args = list_args()
    statuses = choices([("", "Any status")] + [(s.value, s.value.title()) for s in OutboxStatus])
    return render("outbox/list.html", "outbox/partials/_table.html", ["outbox-table"],
                  pagination=pagination, args=args, status_filter=status, q=q, statuses=statuses)


@bp.route("/admin/outbox/<int:email_id>")
@roles_required(Role.admin)
def outbox_email(email_id):
    """An admin reads one email as its recipient does (its links work: handy without a mail server)."""
    email = get_or_404(OutboxEmail, email_id)
    rendered, error = None, None
    if email.status != OutboxStatus.cancelled:
        try:
            rendered = render_email(email, preview=True)
        except Exception as exc:  # shown to the admin: a broken email must not break the page
            error = f"This email cannot be rendered: {exc}"
    links = list(dict.fromkeys(LINK.findall(rendered.text))) if rendered else []
    return render_template("outbox/detail.html", email=email, rendered=rendered, error=error, links=links)


@bp.route("/admin/outbox/<int:email_id>/retry", methods=["POST"])
@roles_required(Role.admin)
def outbox_retry(email_id):
    """An admin puts a failed email back in the queue."""
    email = get_or_404(OutboxEmail, email_id)
    if retry_email(email, now=utcnow()):
        db.session.commit()
        flash(f"The email to {email.recipient} is queued again.", "success")
    else:
        flash(f"Only failed emails can be retried; this one is {email.status.value}.", "error")
    return redirect_after_post(url_for("notifications.outbox_email", email_id=email.id))
