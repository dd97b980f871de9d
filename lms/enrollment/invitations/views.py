"""Inviting people: the invite form (check, preview, send), set an account, the invitations list.

Admins invite anyone into any group; managers invite learners into the groups of the sessions
they train, and see the invitations they sent or that concern those groups.
"""
from types import SimpleNamespace

from flask import Blueprint, abort, current_app, flash, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import contains_eager, selectinload

from lms.accounts.models import Role, User
from lms.clock import utcnow
from lms.db_utils import as_ids
from lms.enrollment.groups.services import groups_with_counts
from lms.enrollment.invitations.forms import AccountForm, InvitationFilterForm, InviteForm
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import (
    cancel_invitations,
    effective_status,
    expiry_for,
    invite_typed,
    parse_email_list,
    resend_invitations,
    set_account,
    withdrawal_preview,
)
from lms.errors import DomainError
from lms.extensions import db
from lms.forms import choices
from lms.languages import language_name
from lms.notifications.models import OutboxEmail
from lms.notifications.render import Links, render_email
from lms.notifications.status import latest_email_states
from lms.programs.access import reachable_user_ids
from lms.programs.services import group_ids_of_trained_sessions, open_sessions_of_groups
from lms.tokens import token_from_nonce
from lms.web import (
    paginate,
    attach_error,
    filters_from,
    get_or_404,
    list_args,
    redirect_after_post,
    render,
    roles_required,
    wants_fragment,
)

bp = Blueprint("invitations", __name__, url_prefix="/admin")

INVITATIONS_PER_PAGE = 50


@bp.before_request
@roles_required(Role.admin, Role.manager)
def require_staff():
    pass


def _allowed_group_ids():
    """None means every group (admins)."""
    return None if current_user.role == Role.admin else group_ids_of_trained_sessions(current_user)


def fill_choices(form, groups=None):
    """Role, language and group choices for what the current person may give; `groups` as
    groups_with_counts gives them, when the caller has them already."""
    allowed = _allowed_group_ids()
    form.groups.choices = choices(
        (group.id, group.name) for group, _, _ in (groups if groups is not None else groups_with_counts())
        if allowed is None or group.id in allowed
    )
    roles = [Role.learner] if current_user.role != Role.admin else [Role.learner, Role.manager, Role.admin]
    form.role.choices = choices((role.value, role.label) for role in roles)
    form.language.choices = choices((code, language_name(code)) for code in current_app.config["LMS_LANGUAGES"])
    if request.method == "GET":
        form.language.data = form.language.data or current_app.config["LMS_DEFAULT_LANGUAGE"]
    return form


@bp.route("/invite", methods=["GET", "POST"])
def invite():
    """An admin or trainer pastes addresses, picks role, groups, language and message, and invites."""
    form = fill_choices(InviteForm())
    outcome, status = None, 200
    if form.validate_on_submit():
        try:
            outcome = invite_typed(
                form.emails.data, actor=current_user, now=utcnow(), role=form.role.data,
                group_ids=form.groups.data, deactivate_on=form.deactivate_on.data,
                language=form.language.data, message=form.message.data, send_email=form.send_email.data,
            )
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash(outcome.summary(), "success" if not outcome.rejected else "info")
            form = fill_choices(InviteForm(formdata=None))
    if form.errors or form.form_errors:
        status = 422
    return render("invitations/invite.html", "invitations/partials/_invite.html", ["invite-panel"],
                  status=status, form=form, outcome=outcome)


@bp.route("/invite/check", methods=["POST"])
def invite_check():
    """Inline validation of the address list, as the admin types or pastes."""
    try:
        parsed = parse_email_list(request.form.get("emails", ""))
        error = None
    except DomainError as exc:
        parsed, error = None, exc.message
    return render_template("invitations/partials/_email_check.html", parsed=parsed, error=error)


@bp.route("/invite/preview", methods=["POST"])
def invite_preview():
    """The invitation email exactly as the first invitee will get it (but with a sample link)."""
    form = fill_choices(InviteForm())
    parsed = parse_email_list(form.emails.data or "") if len(form.emails.data or "") < 100_000 else None
    first = parsed.emails[0] if parsed and parsed.emails else "someone@example.com"
    allowed = {choice.value for choice in form.groups.choices}
    group_names = [c.label for c in form.groups.choices if c.value in set(form.groups.data or []) & allowed]
    language = form.language.data if form.language.data in current_app.config["LMS_LANGUAGES"] else \
        current_app.config["LMS_DEFAULT_LANGUAGE"]
    now = utcnow()
    invitation = SimpleNamespace(
        id=0, invited_by=current_user, message=(form.message.data or "").strip()[:2000],
        role=Role(form.role.data) if form.role.data in Role.__members__ else Role.learner,
        expires_at=expiry_for(now), user_id=None, token_nonce=None, language=language,
        deactivate_on=form.deactivate_on.data,
    )
    chosen_ids = set(form.groups.data or []) & allowed
    email = SimpleNamespace(kind="invitation", language=language, recipient=first,
                            context={"group_names": group_names}, preview_invitation=invitation,
                            preview_sessions=open_sessions_of_groups(chosen_ids, now=now))
    rendered = render_email(email)
    return render_template("invitations/partials/_preview.html", rendered=rendered, recipient=first)


@bp.route("/accounts/new", methods=["GET", "POST"])
@roles_required(Role.admin)
def account_new():
    """An admin creates an account with a password ("Set an account") and may email the details."""
    form = fill_choices(AccountForm())
    status = 200
    if form.validate_on_submit():
        try:
            user = set_account(
                form.email.data, actor=current_user, now=utcnow(), first_name=form.first_name.data,
                last_name=form.last_name.data, password=form.password.data, role=form.role.data,
                group_ids=form.groups.data, deactivate_on=form.deactivate_on.data,
                language=form.language.data, send_email=form.send_email.data,
                include_password=form.include_password.data,
                generate_password=form.generates_password(),
                must_change_password=form.must_change_password.data,
            )
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash(f"Account created for {user.email}." + (" A temporary password is on its way by email."
                                                           if form.generates_password() else ""), "success")
            return redirect_after_post(url_for("users.user_detail", user_id=user.id))
    if form.errors or form.form_errors:
        status = 422
    return render("invitations/account_new.html", "invitations/partials/_account_form.html", ["account-panel"],
                  status=status, form=form)


def _visible_invitations():
    """Admins see every invitation; managers those they sent and those of the people registered
    in the sessions they manage (lms.programs.access)."""
    query = select(Invitation).join(User, User.id == Invitation.user_id)
    if current_user.role != Role.admin:
        query = query.where(or_(Invitation.invited_by_id == current_user.id,
                                Invitation.user_id.in_(reachable_user_ids(current_user))))
    return query


def _get_invitation(invitation_id, *, own=False):
    """An invitation the current person may act on: admins any; managers those they can see,
    and only learners' (a manager must never hold a link that makes someone a manager or admin).
    `own`: managers only the invitations they sent themselves (the link registers as that person)."""
    invitation = get_or_404(Invitation, invitation_id)
    if current_user.role != Role.admin:
        visible = db.session.scalar(_visible_invitations().where(Invitation.id == invitation.id))
        if visible is None or invitation.role != Role.learner:
            abort(403)
        if own and invitation.invited_by_id != current_user.id:
            abort(403)
    return invitation


def _filter_form(formdata):
    form = InvitationFilterForm(formdata=formdata)
    form.status.choices = choices([("", "Any status")] + [(s.value, s.value.title()) for s in InvitationStatus])
    return form


@bp.route("/invitations")
def invitation_list():
    """Every invitation with its status, inviter and dates; search, filter, resend, cancel."""
    filters = filters_from(request.args, _filter_form)
    now = utcnow()
    query = _visible_invitations()
    if filters.q.data:
        query = query.where(User.email.contains(filters.q.data.strip().lower(), autoescape=True))
    if filters.status.data == InvitationStatus.expired.value:
        query = query.where(or_(Invitation.status == InvitationStatus.expired,
                                (Invitation.status == InvitationStatus.pending) & (Invitation.expires_at <= now)))
    elif filters.status.data == InvitationStatus.pending.value:
        query = query.where(Invitation.status == InvitationStatus.pending, Invitation.expires_at > now)
    elif filters.status.data:
        query = query.where(Invitation.status == InvitationStatus(filters.status.data))
    # Each row shows its invitee (already joined) and inviter: loaded with the page, not one by one.
    query = query.order_by(Invitation.id.desc()).options(contains_eager(Invitation.user),
                                                         selectinload(Invitation.invited_by))
    pagination = paginate(query, per_page=INVITATIONS_PER_PAGE)
    args = list_args()
    return render("invitations/list.html", "invitations/partials/_table.html", ["invitation-table"],
                  filters=filters, pagination=pagination, now=now, args=args, **_row_context(pagination.items, now))


def _row_context(invitations, now):
    """What each row shows besides the invitation: its email's true state, and what cancelling
    would take back (R12), in a few queries for the page."""
    return {"status_of": effective_status, "withdrawal_words": _withdrawal_words,
            "email_states": latest_email_states(OutboxEmail.invitation_id, [inv.id for inv in invitations],
                                                kinds=["invitation"], now=now),
            "withdrawals": withdrawal_preview([inv.user_id for inv in invitations
                                               if inv.status == InvitationStatus.pending], now=now)}


def _row_response(invitation):
    if wants_fragment(f"invitation-{invitation.id}"):
        now = utcnow()
        return render_template("invitations/partials/_row.html", invitation=invitation, now=now,
                               **_row_context([invitation], now))
    return redirect_after_post(url_for("invitations.invitation_list"))


@bp.route("/invitations/<int:invitation_id>/resend", methods=["POST"])
def invitation_resend(invitation_id):
    """Resend: a new link (the old one stops working), a new expiry date, the email again."""
    invitation = _get_invitation(invitation_id)
    resent, refused = resend_invitations([invitation], actor=current_user, now=utcnow())
    db.session.commit()
    _flash_bulk("resent", resent, refused)
    return _row_response(invitation)


@bp.route("/invitations/<int:invitation_id>/cancel", methods=["POST"])
def invitation_cancel(invitation_id):
    """Cancel: the link stops working and unsent emails are not sent."""
    invitation = _get_invitation(invitation_id)
    now = utcnow()
    taken = withdrawal_preview([invitation.user_id], now=now)[invitation.user_id]
    cancelled, refused = cancel_invitations([invitation], actor=current_user, now=now)
    db.session.commit()
    _flash_bulk("cancelled", cancelled, refused)
    if cancelled and (taken[0] or taken[1]):
        flash(f"{invitation.user.email} {_withdrawal_words(*taken, done=True)}.", "info")
    return _row_response(invitation)


@bp.route("/invitations/<int:invitation_id>/link")
def invitation_link(invitation_id):
    """The invitation's current link, to give to someone who cannot find the email."""
    invitation = _get_invitation(invitation_id, own=True)
    link = Links(current_app)("registration.invitation", token=token_from_nonce(invitation.token_nonce))
    return render("invitations/link.html", "invitations/partials/_link.html", [f"link-{invitation.id}"],
                  invitation=invitation, link=link, usable=effective_status(invitation, utcnow()) == InvitationStatus.pending)


@bp.route("/invitations/bulk", methods=["POST"])
def invitation_bulk():
    """Resend or cancel the ticked invitations at once."""
    action = request.form.get("action")
    if action not in ("resend", "cancel"):
        abort(400)
    ids = as_ids(request.form.getlist("ids"))
    invitations = [_get_invitation(invitation_id) for invitation_id in ids]
    if not invitations:
        flash("Tick at least one invitation first.", "error")
    else:
        service = resend_invitations if action == "resend" else cancel_invitations
        done, refused = service(invitations, actor=current_user, now=utcnow())
        db.session.commit()
        _flash_bulk("resent" if action == "resend" else "cancelled", done, refused)
    return redirect_after_post(url_for("invitations.invitation_list", **list_args(keep_page=True)))


def _withdrawal_words(group_names, pending_sessions, *, done=False):
    """'removed from Sales North and from 2 pending session invitations' (R12)."""
    parts = []
    if group_names:
        parts.append(", ".join(group_names))
    if pending_sessions:
        parts.append(f"{pending_sessions} pending session invitation{'s' if pending_sessions != 1 else ''}")
    if not parts:
        return ""
    return "was removed from " + " and from ".join(parts) if done else "leaves " + " and ".join(parts)


def _flash_bulk(verb, done, refused):
    if done:
        flash(f"{len(done)} invitation{'s' if len(done) != 1 else ''} {verb}.", "success")
    for invitation, reason in refused:
        flash(f"{invitation.user.email}: not {verb} ({reason}).", "error")
