"""Configuration, read from the environment.

Every setting can be given as an environment variable of the same name. Nothing secret has
a default in code: SECRET_KEY is generated into the instance folder on first run when unset.
"""
import os
import secrets
from datetime import timedelta
from pathlib import Path


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _float(name, default):
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def _list(name, default):
    value = os.environ.get(name) or default
    return [item.strip() for item in value.split(",") if item.strip()]


def database_url(instance_path):
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{Path(instance_path) / 'lms.sqlite3'}"
    return normalize_database_url(url)


def normalize_database_url(url):
    """Heroku-style postgres:// and plain postgresql:// URLs go through psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def secret_key(instance_path):
    """SECRET_KEY from the environment, else one generated once into the instance folder."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def locale_of(language_tag):
    """BCP 47 'nl-BE' as the Babel locale name 'nl_BE'."""
    return language_tag.replace("-", "_")


class Config:
    """Settings for a running platform; values are read when the app is created."""

    def __init__(self, instance_path):
        self.SECRET_KEY = secret_key(instance_path)
        self.SQLALCHEMY_DATABASE_URI = database_url(instance_path)
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")

        self.LMS_TIMEZONE = os.environ.get("LMS_TIMEZONE", "UTC")
        self.LMS_LANGUAGES = _list("LMS_LANGUAGES", "en,fr,nl")
        self.LMS_DEFAULT_LANGUAGE = os.environ.get("LMS_DEFAULT_LANGUAGE", "en")
        self.LMS_PLATFORM_NAME = os.environ.get("LMS_PLATFORM_NAME", "LMS")
        self.BABEL_DEFAULT_LOCALE = locale_of(self.LMS_DEFAULT_LANGUAGE)
        self.BABEL_DEFAULT_TIMEZONE = self.LMS_TIMEZONE
        self.BABEL_TRANSLATION_DIRECTORIES = str(Path(__file__).parent / "translations")
        self.LMS_INVITATION_EXPIRY_DAYS = _int("LMS_INVITATION_EXPIRY_DAYS", 30)
        self.LMS_INVITATION_REMINDER_DAYS = _int("LMS_INVITATION_REMINDER_DAYS", 3)
        self.LMS_RUN_SCHEDULER = _bool("LMS_RUN_SCHEDULER")
        self.LMS_SCHEDULER_INTERVAL_SECONDS = _int("LMS_SCHEDULER_INTERVAL_SECONDS", 30)
        # A worker (scheduler, import thread) with no heartbeat for this long is taken for gone
        # and its claimed emails and imports go to the next worker (lms.workers). On the same
        # host a worker whose process has ended is found at once.
        self.LMS_WORKER_TIMEOUT_SECONDS = _int("LMS_WORKER_TIMEOUT_SECONDS", 30)
        # Imports started from the page run at once in a thread of the web process; off, they
        # wait for the scheduler's next tick (`lms run-due`).
        self.LMS_IMPORT_IN_BACKGROUND = _bool("LMS_IMPORT_IN_BACKGROUND", True)
        self.USERS_PER_PAGE = 50

        # Invite links' public pages and the sign-in form, per client address, so tokens and
        # passwords cannot be guessed by brute force. memory:// counts per process; with several
        # web workers give them a shared store (redis://127.0.0.1:6379 with `pip install redis`).
        self.RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_HEADERS_ENABLED = True
        self.LMS_JOIN_RATE_LIMIT = os.environ.get("LMS_JOIN_RATE_LIMIT", "30 per minute")
        self.LMS_LOGIN_RATE_LIMIT = os.environ.get("LMS_LOGIN_RATE_LIMIT", "10 per minute")
        # Forgot password: requests per client address (then 429), and per email address (past
        # it, requests get the usual answer and send nothing: a mailbox is not flooded).
        self.LMS_FORGOT_PASSWORD_RATE_LIMIT = os.environ.get("LMS_FORGOT_PASSWORD_RATE_LIMIT", "5 per minute")
        self.LMS_FORGOT_PASSWORD_PER_ADDRESS = os.environ.get("LMS_FORGOT_PASSWORD_PER_ADDRESS", "3 per hour")
        # A Forgot password answer takes at least this long, whether or not the address has an
        # account, so its timing does not tell.
        self.LMS_FORGOT_PASSWORD_SECONDS = _float("LMS_FORGOT_PASSWORD_SECONDS", 0.4)
        self.LMS_PASSWORD_RESET_MINUTES = _int("LMS_PASSWORD_RESET_MINUTES", 60)
        # Behind a reverse proxy, how many proxies' X-Forwarded-* headers to trust, so that rate
        # limits count each client's own address and not the proxy's (werkzeug's ProxyFix).
        self.LMS_TRUSTED_PROXIES = _int("LMS_TRUSTED_PROXIES", 0)

        # SCIM provisioning (/scim/v2): whether people an identity provider creates get their
        # invitation email (off, they are invited without one: an admin sends it later), the
        # requests each token may make, and the largest request body.
        self.LMS_SCIM_SEND_INVITATIONS = _bool("LMS_SCIM_SEND_INVITATIONS", True)
        self.LMS_SCIM_RATE_LIMIT = os.environ.get("LMS_SCIM_RATE_LIMIT", "3000 per minute")
        self.LMS_SCIM_MAX_BODY_BYTES = _int("LMS_SCIM_MAX_BODY_BYTES", 2 * 1024 * 1024)

        self.MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
        self.MAIL_PORT = _int("MAIL_PORT", 25)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
        self.MAIL_USE_TLS = _bool("MAIL_USE_TLS")
        self.MAIL_USE_SSL = _bool("MAIL_USE_SSL")
        self.MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "LMS <no-reply@localhost>")
        # SMTP connections the dispatcher sends over at once (docs/performance.md); lower it
        # for providers that limit concurrent connections.
        self.MAIL_CONNECTIONS = _int("MAIL_CONNECTIONS", 4)
        # Seconds to wait for the SMTP server to connect or answer a command; past it the
        # attempt is recorded and retried with the usual back-off.
        self.MAIL_TIMEOUT = _float("MAIL_TIMEOUT", 30)

        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 10 * 1024 * 1024)
        # A pasted roster is a form field: let it be as large as an uploaded one (Flask's default is 500 kB).
        self.MAX_FORM_MEMORY_SIZE = self.MAX_CONTENT_LENGTH
        self.WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the login session
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = self.BASE_URL.startswith("https://")
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_HTTPONLY = True
        # "Remember me" lasts two weeks (Flask-Login's default is a year).
        self.REMEMBER_COOKIE_DURATION = timedelta(days=_int("LMS_REMEMBER_DAYS", 14))
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE


def config_for_testing(instance_path, database_uri):
    """A Config for the test suite: a given database, no scheduler, fast password hashes."""
    config = Config(instance_path)
    config.TESTING = True
    config.SECRET_KEY = secrets.token_urlsafe(32)
    config.SQLALCHEMY_DATABASE_URI = database_uri
    config.LMS_RUN_SCHEDULER = False
    config.LMS_IMPORT_IN_BACKGROUND = False  # tests run jobs themselves, with their own clock
    config.MAIL_SERVER = None
    config.MAIL_SUPPRESS_SEND = False  # tests that send do so to a real local SMTP server
    # The whole suite signs in from one address; the rate-limit tests set their own limits.
    config.LMS_JOIN_RATE_LIMIT = config.LMS_LOGIN_RATE_LIMIT = "100000 per minute"
    config.LMS_FORGOT_PASSWORD_RATE_LIMIT = config.LMS_FORGOT_PASSWORD_PER_ADDRESS = "100000 per minute"
    config.LMS_SCIM_RATE_LIMIT = "100000 per minute"
    config.LMS_FORGOT_PASSWORD_SECONDS = 0  # its own test sets it
    return config
