"""Signing in and out, Forgot password, a person's own account page, and each role's home page."""
import hashlib
import time
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user, login_required, login_user, logout_user
from limits import parse
from sqlalchemy import func, select

from lms.accounts.forms import ChoosePasswordForm, ForgotPasswordForm, LoginForm
from lms.accounts.models import Role, User, UserStatus
from lms.accounts.recovery import find_password_reset, request_password_reset, reset_password
from lms.accounts.services import authenticate, choose_own_password, normalize_email_or_none
from lms.clock import utcnow
from lms.errors import DomainError
from lms.extensions import db, limiter
from lms.web import attach_error, redirect_after_post

bp = Blueprint("accounts", __name__)


def safe_next(target):
    """Only same-site paths, so the login form cannot be used to redirect elsewhere."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


# Password attempts per client address, counted together for every form that checks one.
sign_in_limit = limiter.shared_limit(lambda: current_app.config["LMS_LOGIN_RATE_LIMIT"], scope="sign-in",
                                     methods=["POST"], override_defaults=False)


@bp.route("/login", methods=["GET", "POST"])
@sign_in_limit
def login():
    """A person signs in with their email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    form = LoginForm(email=request.args.get("email", "")[:320])  # after a reset: the address is filled in
    if form.validate_on_submit():
        try:
            user = authenticate(form.email.data, form.password.data, now=utcnow())
        except DomainError as error:
            form.form_errors.append(error.message)
        else:
            db.session.commit()
            login_user(user, remember=form.remember.data)
            flash(_("Welcome, %(name)s.", name=user.display_name), "success")
            return redirect(safe_next(request.args.get("next")) or url_for("accounts.home"), 303)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/login.html", form=form), status


forgot_password_limit = limiter.limit(lambda: current_app.config["LMS_FORGOT_PASSWORD_RATE_LIMIT"],
                                      methods=["POST"], override_defaults=False)


def _address_may_ask(address) -> bool:
    """Per email address (hashed: the limiter's store keeps no addresses), whether it exists or not."""
    if not limiter.enabled:
        return True
    limit = parse(current_app.config["LMS_FORGOT_PASSWORD_PER_ADDRESS"])
    try:
        return limiter.limiter.hit(limit, "forgot-password", hashlib.sha256(address.encode()).hexdigest())
    except Exception:  # the limits' store is unreachable: the client limit still holds; do not fail the person
        current_app.logger.exception("the rate-limit store could not count a Forgot password request")
        return True


@bp.route("/password/forgot", methods=["GET", "POST"])
@forgot_password_limit
def forgot_password():
    """Someone who forgot their password asks for a link to choose a new one. The answer is the
    same, and takes as long, whether the address has an account or not (lms.accounts.recovery)."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        started = time.monotonic()
        address = normalize_email_or_none(form.email.data)
        if address is None:
            form.email.errors.append(_("Enter a valid email address, like name@example.com."))
        else:
            if _address_may_ask(address):
                request_password_reset(address, now=utcnow())
                db.session.commit()
            # The answer never comes sooner than this, so its timing says nothing about the address.
            time.sleep(max(0.0, started + current_app.config["LMS_FORGOT_PASSWORD_SECONDS"] - time.monotonic()))
            return redirect(url_for("accounts.forgot_password_sent"), 303)
    status = 422 if form.errors else 200
    return render_template("accounts/forgot_password.html", form=form), status


@bp.route("/password/forgot/sent")
def forgot_password_sent():
    return render_template("accounts/forgot_password_sent.html",
                           minutes=current_app.config["LMS_PASSWORD_RESET_MINUTES"])


@bp.route("/password/reset/<token>", methods=["GET", "POST"], endpoint="reset_password")
@sign_in_limit
def reset_password_page(token):
    """The link from a Forgot password email: the person chooses a new password, once."""
    reset = find_password_reset(token, now=utcnow())
    if reset is None:
        return render_template("accounts/reset_dead.html"), 410
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        try:
            user = reset_password(reset, password=form.password.data, now=utcnow())
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            if current_user.is_authenticated:
                logout_user()  # whoever was signed in on this browser, the new password starts afresh
            flash(_("Your new password is set. Sign in with it."), "success")
            return redirect(url_for("accounts.login", email=user.email), 303)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/reset_password.html", form=form, email=reset.user.email), status


# Pages a person who must change their password can still open.
OPEN_WHILE_CHANGING = {"accounts.new_password", "accounts.logout", "static", "accounts.reset_password",
                       "accounts.forgot_password", "accounts.forgot_password_sent"}


@bp.before_app_request
def require_new_password():
    """A person whose password must change (a temporary one, or an admin asked) opens no other
    page until they have chosen one."""
    if request.endpoint in OPEN_WHILE_CHANGING or request.endpoint is None:
        return None
    if not (current_user.is_authenticated and current_user.must_change_password):
        return None
    target = url_for("accounts.new_password",
                     next=safe_next(request.full_path.rstrip("?")) if request.method == "GET" else None)
    return redirect_after_post(target)


@bp.route("/account/new-password", methods=["GET", "POST"])
@login_required
def new_password():
    """A person asked to change their password at sign-in chooses their own."""
    if not current_user.must_change_password:
        return redirect(safe_next(request.args.get("next")) or url_for("accounts.account"), 303)
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        done = _own_password_changed(
            form, lambda: choose_own_password(current_user, password=form.password.data, now=utcnow()),
            then=safe_next(request.args.get("next")) or url_for("accounts.home"))
        if done:
            return done
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/new_password.html", form=form), status


def _own_password_changed(form, change, *, then):
    """Run `change()`, a service that sets the signed-in person's password (and ends their
    sessions); then this session goes on and the person goes to `then`. None when the service
    refused: its message is on `form`."""
    try:
        change()
    except DomainError as error:
        db.session.rollback()
        attach_error(form, error)
        return None
    db.session.commit()
    login_user(current_user._get_current_object())  # this session goes on; the others ended
    flash(_("Your password is changed."), "success")
    return redirect(then, 303)


@bp.route("/logout", methods=["POST"])
def logout():
    """A signed-in person signs out (a POST, so another site cannot sign them out), on every
    device: a copy of the session cookie stops working too."""
    if current_user.is_authenticated:
        current_user.end_sessions()
        db.session.commit()
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(safe_next(request.args.get("next")) or url_for("accounts.login"), 303)


@bp.route("/")
@login_required
def home():
    """Each role's starting point: counts and shortcuts for admins, their own places for others."""
    context = {}
    if current_user.role == Role.admin:
        from lms.enrollment.groups.services import groups_with_counts

        counts = dict(
            db.session.execute(select(User.status, func.count()).group_by(User.status)).all()
        )
        context["user_counts"] = {status: counts.get(status, 0) for status in UserStatus}
        context["group_count"] = len(groups_with_counts())
    else:
        from lms.programs.services import sessions_for_user

        context["my_sessions"] = sessions_for_user(current_user, now=utcnow())
        from lms.enrollment.groups.services import group_names_by_user

        context["my_groups"] = group_names_by_user([current_user.id]).get(current_user.id, [])
    return render_template("accounts/home.html", **context)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """A signed-in person changes their name, their language or their password."""
    from lms.accounts.forms import AccountSettingsForm, NamesForm, PasswordChangeForm
    from lms.accounts.services import change_password, set_language, set_own_names
    from lms.forms import choices
    from lms.languages import language_name

    names = NamesForm(prefix="names", obj=current_user)
    settings = AccountSettingsForm(prefix="settings", obj=current_user)
    settings.language.choices = choices(
        (code, language_name(code)) for code in current_app.config["LMS_LANGUAGES"]
    )
    password = PasswordChangeForm(prefix="password")
    status = 200
    if request.method == "POST" and "names-first_name" in request.form:
        if names.validate():
            if set_own_names(current_user, first_name=names.first_name.data, last_name=names.last_name.data,
                             now=utcnow()):
                db.session.commit()
            flash(_("Your name is saved."), "success")
            return redirect(url_for("accounts.account"), 303)
        status = 422
    if request.method == "POST" and "settings-language" in request.form:
        if settings.validate():
            set_language(current_user, settings.language.data, now=utcnow())
            db.session.commit()
            refresh()  # say it in the language just chosen
            flash(_("Your language is saved."), "success")
            return redirect(url_for("accounts.account"), 303)
        status = 422
    if request.method == "POST" and "password-new_password" in request.form:
        if password.validate():
            done = _own_password_changed(
                password, lambda: change_password(current_user, current_password=password.current_password.data,
                                                  new_password=password.new_password.data, now=utcnow()),
                then=url_for("accounts.account"))
            if done:
                return done
        status = 422
    return render_template("accounts/account.html", names=names, settings=settings, password=password), status
