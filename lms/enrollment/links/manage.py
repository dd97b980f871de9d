"""Invite links for staff: create, list, share (copy, email, SMS, WhatsApp, QR code), change
their terms (maximum uses, last day, domain: the address stays), revoke.

Admins share links to the platform, any group or session, for learners or managers; managers
share learner links to the groups and sessions they train (lms.enrollment.links.services).
"""
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, flash, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from lms.accounts.models import Role
from lms.clock import utcnow
from lms.config import locale_of
from lms.db_utils import as_id
from lms.enrollment.groups.models import Group
from lms.enrollment.groups.services import groups_with_counts
from lms.enrollment.links.forms import InviteLinkForm, LinkTermsForm
from lms.enrollment.links.models import InviteLink, InviteLinkTarget
from lms.enrollment.links.qr import PNG_SIZES, qr_png, qr_svg
from lms.enrollment.links.services import (
    create_link,
    describe_change,
    describe_target,
    enable_link,
    expires_on,
    expiry_day,
    link_state,
    link_url,
    link_uses,
    links_for,
    may_manage,
    places_left,
    revoke_link,
    signup_counts,
    update_link,
)
from lms.errors import DomainError
from lms.extensions import db
from lms.forms import choices
from lms.programs.models import Program, ProgramSession
from lms.programs.access import managed_session_ids
from lms.programs.services import group_ids_of_trained_sessions
from lms.web import (
    paginate,
    attach_error,
    download,
    get_or_404,
    redirect_after_post,
    render,
    roles_required,
    wants_fragment,
)

bp = Blueprint("links", __name__, url_prefix="/admin/links")

LINKS_PER_PAGE = 50
TARGET_LABELS = {"platform": "The platform only (an account)", "group": "A group (and its sessions)",
                 "session": "A session"}


@bp.before_request
@roles_required(Role.admin, Role.manager)
def require_staff():
    pass


def _link(link_id):
    link = get_or_404(InviteLink, link_id)
    if not may_manage(current_user, link):
        abort(403)
    return link


def _shareable_groups():
    allowed = None if current_user.role == Role.admin else group_ids_of_trained_sessions(current_user)
    return [group for group, _, _ in groups_with_counts() if allowed is None or group.id in allowed]


def _shareable_sessions(now):
    """Sessions not over that this person manages (all, for admins), soonest first."""
    query = (select(ProgramSession, Program).join(Program, Program.id == ProgramSession.program_id)
             .where(Program.archived_at.is_(None), ProgramSession.archived_at.is_(None),
                    or_(ProgramSession.ends_at.is_(None), ProgramSession.ends_at > now))
             .order_by(ProgramSession.starts_at))
    if current_user.role != Role.admin:
        query = query.where(ProgramSession.id.in_(managed_session_ids(current_user)))
    return db.session.execute(query).all()


def _link_form(now, formdata=None):
    form = InviteLinkForm(formdata=formdata) if formdata is not None else InviteLinkForm()
    targets = ["group", "session"] if current_user.role != Role.admin else ["platform", "group", "session"]
    form.target.choices = choices((target, TARGET_LABELS[target]) for target in targets)
    form.group_id.choices = choices([("", "Choose a group")] + [(str(group.id), group.name)
                                                              for group in _shareable_groups()])
    form.session_id.choices = choices([("", "Choose a session")] + [
        (str(session.id), f"{program.title} – {session.name} ({session.starts_at:%Y-%m-%d})")
        for session, program in _shareable_sessions(now)])
    roles = [Role.learner] if current_user.role != Role.admin else [Role.learner, Role.manager]
    form.role.choices = choices((role.value, role.label) for role in roles)
    return form


def _chosen(form, field, model):
    """The group or session picked in the form, only if it was among the offered choices."""
    value = field.data or ""
    if not value or value not in {str(choice.value) for choice in field.choices}:
        return None
    return db.session.get(model, int(value))


@bp.route("/new", methods=["GET", "POST"])
def link_new():
    """Create a link; ?group=ID or ?session=ID comes from a group's or a session's page."""
    now = utcnow()
    form = _link_form(now)
    if request.method == "GET":
        for name in ("group", "session"):
            if as_id(request.args.get(name)):
                form.target.data = name
                field = getattr(form, f"{name}_id")
                field.data = request.args[name]
                if _chosen(form, field, Group if name == "group" else ProgramSession) is None:
                    field.errors = [f"You cannot share a link to this {name}: it is over, or not one you manage."]
        form.target.data = form.target.data or form.target.choices[0].value
        form.role.data = Role.learner.value
    status = 200
    if form.validate_on_submit():
        target = InviteLinkTarget(form.target.data)
        group = _chosen(form, form.group_id, Group) if target == InviteLinkTarget.group else None
        session = _chosen(form, form.session_id, ProgramSession) if target == InviteLinkTarget.session else None
        try:
            if target == InviteLinkTarget.group and group is None:
                raise DomainError("Choose the group.", field="group_id")
            if target == InviteLinkTarget.session and session is None:
                raise DomainError("Choose the session.", field="session_id")
            link = create_link(
                actor=current_user, now=now, target=target, group=group, session=session, role=form.role.data,
                expires_on=form.expires_on.data, max_uses=form.max_uses.data,
                allowed_domain=form.allowed_domain.data, deactivate_on=form.deactivate_on.data,
                self_registration=form.self_registration.data and target == InviteLinkTarget.session)
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash("Link created. Share it, or print its QR code.", "success")
            return redirect_after_post(url_for("links.link_detail", link_id=link.id))
    if request.method == "POST" and (form.errors or form.form_errors):
        status = 422
    return render_template("links/new.html", form=form), status


@bp.route("")
def link_list():
    """The links this person may manage, with their uses, expiry and state."""
    now = utcnow()
    pagination = paginate(links_for(current_user), per_page=LINKS_PER_PAGE)
    rows = [_row(link, now) for link in pagination.items]
    waiting = signup_counts([link.id for link in pagination.items])
    return render("links/list.html", "links/partials/_table.html", ["link-table"],
                  rows=rows, pagination=pagination, waiting=waiting)


def _row(link, now):
    return {"link": link, "target": describe_target(link), "state": link_state(link, now),
            "expires_on": expires_on(link), "url": link_url(link)}


def share_targets(link, url):
    """Ready-made messages for email, SMS and WhatsApp, in the platform's language."""
    platform = current_app.config["LMS_PLATFORM_NAME"]
    with force_locale(locale_of(current_app.config["LMS_DEFAULT_LANGUAGE"])):
        target = describe_target(link)
        if target["kind"] == "platform":
            subject = _("Join %(platform)s", platform=platform)
        else:
            subject = _("Join %(name)s on %(platform)s", name=target["name"], platform=platform)
        lines = [_("You can join %(name)s with this link:", name=target["name"]), url]
        if target["kind"] == "session":
            lines[1:1] = [_("Starts: %(date)s", date=target["session"]["starts"])]
        body = "\n".join(lines)
    return {
        "email": f"mailto:?subject={quote(subject)}&body={quote(body)}",
        "sms": f"sms:?&body={quote(body)}",
        "whatsapp": f"https://wa.me/?text={quote(body)}",
        "text": body,
    }


def _terms(link, now):
    """What the link's terms (the part of its page an edit swaps) show."""
    return {**_row(link, now), "places_left": places_left(link),
            "waiting": signup_counts([link.id]).get(link.id, 0)}


@bp.route("/<int:link_id>")
def link_detail(link_id):
    """One link: its address to copy, share buttons, the QR code, its terms, who joined."""
    link = _link(link_id)
    context = _terms(link, utcnow())
    if wants_fragment("link-terms"):  # "Cancel" on the terms' edit form
        return render_template("links/partials/_terms.html", **context)
    return render_template("links/detail.html", **context, share=share_targets(link, context["url"]),
                           uses=link_uses(link))


def _terms_form(link):
    """The terms form, filled in with the link's terms unless it was posted."""
    form = LinkTermsForm(data={"max_uses": link.max_uses, "expires_on": expiry_day(link),
                               "allowed_domain": f"@{link.allowed_domain}" if link.allowed_domain else ""})
    if link.use_count > 1:
        form.max_uses.description = (f"Optional. {link.use_count:,} people have joined through it so far: "
                                     f"no fewer than {link.use_count:,}. Each person counts once.")
    if link.deactivate_on is not None:
        form.expires_on.description = (f"Optional. The link works through the end of this day, and at the latest "
                                       f"until the eve of {link.deactivate_on:%Y-%m-%d}, when the accounts it "
                                       "creates are deactivated.")
    return form


def _saved_message(changes, before, after):
    """What the flash says after the terms were saved: each change, and whether people can join."""
    if not changes:
        return "Nothing to change: the terms are as they were.", "info"
    message = "Terms saved: " + "; ".join(describe_change(change) for change in changes) + "."
    closed = {"revoked": "it is switched off", **STATE_WORDS}
    if after.value in closed:
        return f"{message} It still lets nobody join: {closed[after.value]}.", "info"
    if before.value in closed:
        message += " People can join through it again, at the same address and QR code."
    return message, "success"


@bp.route("/<int:link_id>/edit", methods=["GET", "POST"])
def link_edit(link_id):
    """Change a link's maximum uses, last day and email domain, for instance to give a full or
    expired link more room: its address and printed QR codes stay the same."""
    link = _link(link_id)
    form = _terms_form(link)
    status = 200
    if form.validate_on_submit():
        now = utcnow()
        before = link_state(link, now)
        try:
            changes = update_link(link, actor=current_user, now=now, max_uses=form.max_uses.data,
                                  expires_on=form.expires_on.data, allowed_domain=form.allowed_domain.data)
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash(*_saved_message(changes, before, link_state(link, now)))
            if wants_fragment("link-terms"):
                return render_template("links/partials/_terms.html", **_terms(link, now), oob=True)
            return redirect_after_post(url_for("links.link_detail", link_id=link.id))
    if request.method == "POST":
        status = 422
    return render("links/edit.html", "links/partials/_terms_form.html", ["link-terms"], status=status,
                  form=form, **_row(link, utcnow()))


@bp.route("/<int:link_id>/qr.png")
def link_qr_png(link_id):
    """The QR code as a PNG, 1,200 px by default (?size= from 200 to 4,000)."""
    link = _link(link_id)
    pixels = as_id(request.args.get("size", "1200"))
    if pixels not in PNG_SIZES:
        abort(400)
    body = qr_png(link_url(link), pixels)
    if request.args.get("download") == "0":  # the preview on the link's page
        return Response(body, mimetype="image/png")
    return download(body, "image/png", f"invite-link-{link.id}-qr.png")


@bp.route("/<int:link_id>/qr.svg")
def link_qr_svg(link_id):
    link = _link(link_id)
    return download(qr_svg(link_url(link)), "image/svg+xml", f"invite-link-{link.id}-qr.svg")


STATE_WORDS = {"expired": "it has expired", "exhausted": "it is full", "ended": "its session is over"}


def _switch(link_id, action, done, unchanged):
    link = _link(link_id)
    now = utcnow()
    if action(link, actor=current_user, now=now):
        db.session.commit()
        state = link_state(link, now).value
        if state in STATE_WORDS:  # switched on, yet still closed
            flash(f"{done} It still lets nobody join: {STATE_WORDS[state]}.", "info")
        else:
            flash(done, "success")
    else:
        flash(unchanged, "info")
    if wants_fragment(f"link-{link.id}"):
        return render_template("links/partials/_row.html", **_row(link, utcnow()),
                               waiting=signup_counts([link.id]))
    return redirect_after_post(url_for("links.link_detail", link_id=link.id))


@bp.route("/<int:link_id>/revoke", methods=["POST"])
def link_revoke(link_id):
    """Switch a link off: whoever opens it is told so. It can be switched on again."""
    return _switch(link_id, revoke_link, "Link switched off: it no longer lets anyone join.",
                   "This link was already switched off.")


@bp.route("/<int:link_id>/enable", methods=["POST"])
def link_enable(link_id):
    """Switch a revoked link on again: its address and printed QR codes work again."""
    return _switch(link_id, enable_link, "Link switched on again.", "This link was already on.")

