"""Signing in and out, and each role's home page."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from lms.accounts.forms import LoginForm
from lms.accounts.models import Role, User, UserStatus
from lms.accounts.services import authenticate
from lms.clock import utcnow
from lms.errors import DomainError
from lms.extensions import db, limiter

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
    form = LoginForm()
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
    """A signed-in person changes their language or their password."""
    from flask import current_app

    from lms.accounts.forms import AccountSettingsForm, PasswordChangeForm
    from lms.accounts.services import change_password, set_language
    from lms.forms import choices
    from lms.languages import language_name
    from lms.web import attach_error

    settings = AccountSettingsForm(prefix="settings", obj=current_user)
    settings.language.choices = choices(
        (code, language_name(code)) for code in current_app.config["LMS_LANGUAGES"]
    )
    password = PasswordChangeForm(prefix="password")
    status = 200
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
            try:
                change_password(current_user, current_password=password.current_password.data,
                                new_password=password.new_password.data, now=utcnow())
            except DomainError as error:
                db.session.rollback()
                attach_error(password, error)
            else:
                db.session.commit()
                login_user(current_user._get_current_object())  # this session goes on; the others ended
                flash(_("Your password is changed."), "success")
                return redirect(url_for("accounts.account"), 303)
        status = 422
    return render_template("accounts/account.html", settings=settings, password=password), status
