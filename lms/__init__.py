"""LMS enrollment module: create_app() builds the Flask application."""
import os
import sys
from pathlib import Path

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError

from lms.config import Config
from lms.extensions import babel, csrf, db, htmx, init_migrations, limiter, login_manager, mail

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# The app's own scripts only (htmx and app.js, from /static): no inline script or handler, no
# eval (so no hx-on). Inline styles are allowed: htmx adds one for its indicators, and the
# email previews (srcdoc iframes, which inherit this policy) are styled inline as emails are.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
                           "frame-ancestors 'none'")


def create_app(config=None):
    app = Flask(
        __name__,
        instance_path=os.environ.get("LMS_INSTANCE_PATH") or str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_object(config if config is not None else Config(app.instance_path))
    if app.config.get("LMS_TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        proxies = app.config["LMS_TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    from lms import emails, models  # noqa: F401  (every model and email kind known before use)

    db.init_app(app)
    login_manager.init_app(app)
    mail.init_app(app)
    htmx.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    from lms.i18n import select_locale

    babel.init_app(app, locale_selector=select_locale)

    _register_login(app)
    _register_blueprints(app)
    _register_errors(app)
    _register_template_helpers(app)

    from lms.cli import lms_cli

    app.cli.add_command(lms_cli)
    app.cli.add_command(_migration_commands(app))

    if app.config.get("LMS_RUN_SCHEDULER") and _is_serving_process(app):
        from lms.scheduler import start_in_web_process

        app.extensions["lms_scheduler"] = start_in_web_process(app)
        interval = app.config["LMS_SCHEDULER_INTERVAL_SECONDS"]
        print(f" * Scheduler running: due work every {interval} s", file=sys.stderr)
    return app


def _is_serving_process(app):
    # The debug reloader's parent only watches files; the scheduler belongs in its child.
    return not app.debug or os.environ.get("WERKZEUG_RUN_MAIN") == "true"


def _migration_commands(app):
    """`flask db ...`: Flask-Migrate's commands, loaded when one runs (lms.extensions.init_migrations)."""
    import click

    @click.command("db", help="Database migrations (Flask-Migrate): upgrade, downgrade, migrate, current...",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                   add_help_option=False)
    @click.pass_context
    def db_commands(context):
        init_migrations(app)
        from flask_migrate.cli import db as commands

        commands.main(args=context.args, prog_name=context.command_path, obj=context.obj)

    return db_commands


def _register_login(app):
    from lms.accounts.deactivation import deactivate_user
    from lms.accounts.models import User
    from lms.clock import platform_today, utcnow

    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to open that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id):
        """The signed-in person of a session cookie, unless its sessions were ended since
        (session_version) or the account is deactivated, or its deactivation date has come."""
        user_id, _, version = session_id.partition(".")
        if not (user_id.isdecimal() and version.isdecimal() and len(session_id) < 40):
            return None
        user = db.session.get(User, int(user_id))
        if user is None or user.session_version != int(version) or not user.is_active:
            return None
        now = utcnow()
        if user.deactivation_has_come(platform_today(now)):  # before the scheduler's next run
            deactivate_user(user, actor=None, now=now)
            db.session.commit()
            return None
        return user


def _register_blueprints(app):
    from lms.accounts.manage import bp as users_bp
    from lms.accounts.registration import bp as registration_bp
    from lms.accounts.views import bp as accounts_bp
    from lms.audit.views import bp as audit_bp
    from lms.enrollment.groups.views import bp as groups_bp
    from lms.enrollment.invitations.views import bp as invitations_bp
    from lms.enrollment.links.manage import bp as links_bp
    from lms.enrollment.links.public import bp as joining_bp
    from lms.enrollment.rosters.views import bp as rosters_bp
    from lms.inbox.views import bp as inbox_bp
    from lms.notifications.views import bp as notifications_bp
    from lms.programs.manage import bp as sessions_bp
    from lms.programs.views import bp as programs_bp
    from lms.scim.api import bp as scim_bp
    from lms.scim.manage import bp as scim_tokens_bp

    app.register_blueprint(accounts_bp)
    app.register_blueprint(registration_bp)
    app.register_blueprint(users_bp)
    app.register_blueprint(groups_bp)
    app.register_blueprint(invitations_bp)
    app.register_blueprint(rosters_bp)
    app.register_blueprint(links_bp)
    app.register_blueprint(joining_bp)
    app.register_blueprint(inbox_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(programs_bp)
    app.register_blueprint(sessions_bp)
    app.register_blueprint(scim_bp)
    app.register_blueprint(scim_tokens_bp)


def _register_errors(app):
    from flask_babel import lazy_gettext as _l

    messages = {
        400: (_l("Bad request"), _l("The request could not be understood. Go back and try again.")),
        403: (_l("Not allowed"), _l("Your account does not have access to this page.")),
        404: (_l("Not found"), _l("There is nothing at this address. It may have been deleted.")),
        405: (_l("Not allowed"), _l("This address does not accept that kind of request.")),
        413: (_l("Too large"), _l("The upload is larger than the platform accepts.")),
        429: (_l("Too many attempts"), _l("Too many requests came from your address. Wait a minute, then try again.")),
        503: (_l("Busy"), _l("The platform is busy and nothing was saved. Wait a moment, then try again.")),
        500: (_l("Something went wrong"), _l("The error has been logged. Please try again.")),
    }

    def handler(code):
        def handle(error):
            title, text = messages[code]
            return render_template("errors/error.html", code=code, title=title, text=text), code

        return handle

    for code in messages:
        app.register_error_handler(code, handler(code))

    from sqlalchemy.exc import OperationalError

    @app.errorhandler(OperationalError)
    def database_busy(error):
        """SQLite gives up after its busy timeout when writers queue too long: the request's
        transaction is rolled back, and the person is told to try again (not a 500)."""
        db.session.rollback()
        if "database is locked" not in str(error.orig):
            raise error
        title, text = messages[503]
        return render_template("errors/error.html", code=503, title=title, text=text), 503, {"Retry-After": "5"}

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        text = _l(
            "This form was not accepted because its security token is missing or has expired "
            "(for example after signing in elsewhere). Reload the page and submit it again."
        )
        return render_template("errors/error.html", code=400, title=_l("Form expired"), text=text), 400


def _register_template_helpers(app):
    from lms.accounts.models import Role

    @app.context_processor
    def inject():
        from flask_babel import get_locale
        from flask_login import current_user

        from lms.inbox.services import inbox_count

        locale = get_locale()
        signed_in = current_user and current_user.is_authenticated
        return {
            "inbox_count": (lambda: inbox_count(current_user)) if signed_in else (lambda: 0),
            "Role": Role,
            "languages": app.config["LMS_LANGUAGES"],
            "page_language": str(locale).replace("_", "-") if locale else "en",
        }

    from lms.languages import language_name

    app.add_template_filter(language_name)

    @app.template_filter("datetime")
    def format_datetime(value, fmt="%Y-%m-%d %H:%M"):
        from lms.clock import platform_timezone

        return value.astimezone(platform_timezone()).strftime(fmt) if value else ""

    https = app.config["BASE_URL"].startswith("https://")

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if https:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static":  # pages hold people's data and tokens: never cached
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    from lms.flashes import append_oob_flashes

    app.after_request(append_oob_flashes)
