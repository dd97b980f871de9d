"""Turning an outbox row into the email a person reads, in their language, text and HTML.

Each kind of email registers how to build its template context (`@email_kind`); links are
built from BASE_URL at render time, so a row never stores a token (lms.tokens).
"""
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale

from lms.config import locale_of

EMAIL_KINDS = {}  # kind -> EmailKind; filled at import by the domains' emails modules


@dataclass(frozen=True)
class EmailKind:
    build: callable  # (email row, links) -> template context, including "subject"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def email_kind(name):
    """Register the context builder of an email kind; the templates are email/<name>.{txt,html}."""

    def decorator(build):
        EMAIL_KINDS[name] = EmailKind(build=build)
        return build

    return decorator


class Links:
    """Absolute links to the app's pages, starting with BASE_URL, outside any request."""

    def __init__(self, app):
        base = urlsplit(app.config["BASE_URL"])
        self._adapter = app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)

    def __call__(self, endpoint, **values):
        return self._adapter.build(endpoint, values, force_external=True)


class UnknownEmailKind(Exception):
    pass


def render_email(email, links=None) -> RenderedEmail:
    import lms.emails  # noqa: F401  (registers every kind)

    kind = EMAIL_KINDS.get(email.kind)
    if kind is None:
        raise UnknownEmailKind(f"no template for emails of kind {email.kind!r}")
    links = links or Links(current_app)
    with force_locale(locale_of(email.language)):
        context = kind.build(email, links)
        context.setdefault("platform_name", current_app.config["LMS_PLATFORM_NAME"])
        subject = context.pop("subject")
        text = render_template(f"email/{email.kind}.txt", subject=subject, **context)
        html = render_template(f"email/{email.kind}.html", subject=subject, **context)
    return RenderedEmail(subject=subject, text=text, html=html)
