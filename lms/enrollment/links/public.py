"""The public pages of an invite link: what it lets you join, then sign in or sign up.

Rate limited per client address (the tokens cannot be brute-forced). A dead link gets a page
that says why: switched off, expired, used up, session over, or unknown.
"""
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask import flash as flash_message
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user

from lms.accounts.services import authenticate
from lms.accounts.views import sign_in_limit
from lms.clock import utcnow
from lms.enrollment.links.forms import ConfirmForm, NewcomerForm, SignInForm
from lms.enrollment.links.models import InviteLinkTarget
from lms.enrollment.links.services import (
    DEAD_LINK_MESSAGES,
    JoinOutcome,
    LinkState,
    SignupRefused,
    check_signup,
    confirm_signup,
    describe_target,
    discard_signup,
    expires_on,
    find_link,
    find_signup,
    has_joined,
    join_link,
    link_state,
    link_token,
    places_left,
    request_signup,
)
from lms.errors import DomainError
from lms.extensions import db, limiter
from lms.programs.services import open_sessions_of_groups, session_lines
from lms.web import attach_error

bp = Blueprint("joining", __name__)


def _rate_limit():
    return current_app.config["LMS_JOIN_RATE_LIMIT"]


def _counts_against_the_budget(response):
    """Guesses (unknown tokens: 404) and newcomer forms (each sends an email) count; opening a
    live link does not, so a room scanning one QR code behind one address is never held up."""
    return response.status_code == 404 or (request.endpoint == "joining.sign_up" and request.method == "POST")


# The public pages of this blueprint share one budget per address; once it is spent, every one
# of them answers 429 until the window passes.
limiter.shared_limit(_rate_limit, scope="invite-links", deduct_when=_counts_against_the_budget)(bp)


def _dead(link, state, code=410):
    return render_template("links/public/dead.html", link=link, state=state, last_day=expires_on(link) if link else None,
                           target=describe_target(link) if link else None,
                           message=DEAD_LINK_MESSAGES.get(state) if state else None), code


def _closed(link):
    """The page for a missing or closed link (unknown: 404; switched off, expired...: 410),
    or None when people may join through it."""
    if link is None:
        return _dead(None, None, 404)
    state = link_state(link, utcnow())
    return None if state == LinkState.live else _dead(link, state)


def _live_link(token):
    """(link, None) for a live link, else (link or None, the dead-link page)."""
    link = find_link(token)
    return link, _closed(link)


def _joined_before(link):
    return link is not None and current_user.is_authenticated and has_joined(link, current_user)


def _group_sessions(link):
    """A group's ongoing and future sessions: joining the group invites you to them (R2)."""
    return session_lines(open_sessions_of_groups([link.group_id], now=utcnow())) if link.group_id else []


def _landing(link, token, *, sign_in=None, newcomer=None, status=200):
    return render_template(
        "links/public/landing.html", link=link, token=token, target=describe_target(link), places_left=places_left(link),
        last_day=expires_on(link), group_sessions=_group_sessions(link),
        sign_in=sign_in or SignInForm(prefix="signin", formdata=None),
        newcomer=newcomer or NewcomerForm(prefix="new", formdata=None),
    ), status


@bp.route("/join/<token>")
def landing(token):
    """What the link lets you join; sign in (existing accounts) or sign up (newcomers).
    Someone who joined through it already is told so, even once the link is full."""
    link = find_link(token)
    if _joined_before(link):
        return render_template("links/public/already.html", link=link, target=describe_target(link))
    return _closed(link) or _landing(link, token)


@bp.route("/join/<token>/<any(join, 'sign-in', new):form>")
def form_address(token, form):
    """A form's address opened directly (after an error, the address bar shows it): the page."""
    return redirect(url_for("joining.landing", token=token))


def _joined(link, outcome):
    """Where someone lands after joining, told what happened."""
    target = describe_target(link)
    if not outcome.joined and link.target == InviteLinkTarget.platform:
        flash_message(_("You already have an account on %(platform)s.", platform=target["name"]), "info")
    elif not outcome.joined:
        flash_message(_("You had already joined %(name)s through this link.", name=target["name"]), "info")
    elif link.target == InviteLinkTarget.group:
        flash_message(_("You joined the group %(name)s.", name=target["name"]), "success")
    elif link.target == InviteLinkTarget.session and link.is_self_registration:
        flash_message(_("You are registered for %(name)s.", name=target["name"]), "success")
    elif link.target == InviteLinkTarget.session:
        flash_message(_("You are invited to %(name)s: accept or decline it below.", name=target["name"]), "success")
        return redirect(url_for("inbox.index"), 303)
    else:
        flash_message(_("Welcome to %(platform)s.", platform=target["name"]), "success")
    return redirect(url_for("accounts.home"), 303)


def _join(link, token, user, *, sign_in=None):
    try:
        outcome = join_link(link, user, now=utcnow())
    except DomainError as error:
        db.session.rollback()
        state = link_state(link, utcnow())
        if state != LinkState.live:  # used up or switched off meanwhile
            return _dead(link, state)
        return render_template("links/public/refused.html", link=link, target=describe_target(link),
                               message=error.message), 403
    db.session.commit()
    return _joined(link, outcome)


@bp.route("/join/<token>/join", methods=["POST"])
def join_signed_in(token):
    """A signed-in person joins with one click (a second click, even on a full link, is harmless)."""
    link = find_link(token)
    if _joined_before(link):
        return _joined(link, JoinOutcome(user=current_user, joined=False))
    dead = _closed(link)
    if dead:
        return dead
    if not current_user.is_authenticated:
        return redirect(url_for("joining.landing", token=token), 303)
    return _join(link, token, current_user)


@bp.route("/join/<token>/sign-in", methods=["POST"])
@sign_in_limit
def sign_in(token):
    """An existing account signs in and joins at once (R1)."""
    link, dead = _live_link(token)
    if dead:
        return dead
    form = SignInForm(prefix="signin")
    if form.validate_on_submit():
        try:
            user = authenticate(form.email.data, form.password.data, now=utcnow())
        except DomainError as error:
            db.session.rollback()
            form.form_errors.append(error.message)
        else:
            db.session.commit()
            login_user(user)
            return _join(link, token, user)
    return _landing(link, token, sign_in=form, status=422)


def _page_language():
    tag = str(get_locale()).replace("_", "-")
    return tag if tag in current_app.config["LMS_LANGUAGES"] else current_app.config["LMS_DEFAULT_LANGUAGE"]


@bp.route("/join/<token>/new", methods=["POST"])
def sign_up(token):
    """A newcomer's form: a verification email goes to the address, whatever it is."""
    link, dead = _live_link(token)
    if dead:
        return dead
    form = NewcomerForm(prefix="new")
    if form.validate_on_submit():
        try:
            request_signup(link, email=form.email.data, first_name=form.first_name.data,
                           last_name=form.last_name.data, language=_page_language(), now=utcnow())
        except DomainError as error:
            db.session.rollback()
            if error.field is None:  # the link died meanwhile
                return _dead(link, link_state(link, utcnow()))
            attach_error(form, error)
        else:
            db.session.commit()
            session["join_email_sent_to"] = form.email.data.strip()
            return redirect(url_for("joining.email_sent", token=token), 303)
    return _landing(link, token, newcomer=form, status=422)


@bp.route("/join/<token>/sent")
def email_sent(token):
    link, dead = _live_link(token)
    if dead:
        return dead
    return render_template("links/public/email_sent.html", link=link, token=token, target=describe_target(link),
                           email=session.get("join_email_sent_to"))


def _landing_url(link):
    return url_for("joining.landing", token=link_token(link))


@bp.route("/join/confirm/<token>", methods=["GET", "POST"])
def confirm(token):
    """The link in the verification email. Opening it changes nothing (mail scanners open
    links too); the owner of the address chooses their password, and the button creates the
    account and joins."""
    signup = find_signup(token)
    if signup is None:
        return render_template("links/public/confirm_dead.html", reason="unknown", message=None), 404
    link = signup.link
    form = ConfirmForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = confirm_signup(signup, password=form.password.data, now=utcnow())
        except SignupRefused as refused:
            db.session.rollback()
            return _refused(signup, refused, 409)
        except DomainError as error:  # the password itself
            db.session.rollback()
            attach_error(form, error)
            status = 422
        else:
            db.session.commit()
            login_user(user)
            return _joined(link, JoinOutcome(user=user, joined=True))
    elif request.method == "POST":
        status = 422
    try:  # say it before they click, not after (and change nothing: mail scanners open links)
        check_signup(signup, utcnow())
    except SignupRefused as refused:
        return _refused(signup, refused, 410, discard=False)
    return render_template("links/public/confirm.html", signup=signup, link=link, target=describe_target(link),
                           form=form), status


def _refused(signup, refused, code, discard=True):
    """The confirmation cannot create the account. When the link itself died, a click drops the
    sign-up, so the link's page no longer counts it as waiting."""
    link = signup.link
    page = render_template("links/public/confirm_dead.html", reason=refused.reason, message=refused.message,
                           link=link, target=describe_target(link), landing=_landing_url(link))
    if discard and refused.reason in {state.value for state in LinkState}:
        discard_signup(signup)
        db.session.commit()
    return page, code

