"""Turning an outbox row into the email a person reads, in their language, text and HTML.

Each kind of email registers how to build its template context (`@email_kind`); links are
built from BASE_URL at render time, so a row never stores a token (lms.tokens). The domains'
emails modules register their kinds when the app starts (lms.emails, imported by create_app):
the outbox sits below the domains and imports none of them.
"""
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale

from lms.config import locale_of

EMAIL_KINDS = {}  # kind -> EmailKind; filled at start-up by the domains' emails modules


@dataclass(frozen=True)
class EmailKind:
    build: callable  # (email row, links) -> template context, including "subject"
    # (the rows of a batch of kinds sharing it, the time they are sent) -> the objects their
    # templates read, loaded in a few queries and held while the batch renders (not one query
    # per email)
    preload: callable = None
    # (the rows just sent, now, connection): what the domain notes of its sent emails, once per
    # batch, on the dispatcher's connection (never what decides whether an email goes again)
    on_sent: callable = None


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def email_kind(name, *, preload=None, on_sent=None):
    """Register the context builder of an email kind; the templates are email/<name>.{txt,html}."""

    def decorator(build):
        EMAIL_KINDS[name] = EmailKind(build=build, preload=preload, on_sent=on_sent)
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


HIDDEN_SECRET = "••••••••"


def render_email(email, links=None, *, merge=None, preview=False) -> RenderedEmail:
    """The email as its recipient reads it; a `preview` (the outbox page) hides the password
    it carries (a built context's `password`), which only its recipient reads.

    `merge` (a dict kept for one batch of sends) renders each distinct email once: when two
    rows differ only in their link (a session's invitation to its 500 learners in one
    language), the second is the first with its link swapped in. Only contexts of plain
    values (text, numbers, dates, lists of them) are compared; anything else renders anew.
    """
    kind = EMAIL_KINDS.get(email.kind)
    if kind is None:
        raise UnknownEmailKind(f"no template for emails of kind {email.kind!r}")
    links = links or Links(current_app)
    with force_locale(locale_of(email.language)):
        context = kind.build(email, links)
        if preview and context.get("password"):
            context["password"] = HIDDEN_SECRET
        context.setdefault("platform_name", current_app.config["LMS_PLATFORM_NAME"])
        link = context.get("link")
        shared = {key: value for key, value in context.items() if key != "link"}
        if merge is None or not isinstance(link, str) or not _plain(shared):
            return _render(email.kind, context)
        key = (email.kind, email.language, repr(sorted(shared.items())))
        if key not in merge:
            merged = _render(email.kind, {**shared, "link": _LINK_SLOT})
            found = _LINK_SLOT in merged.text or _LINK_SLOT in merged.html
            merge[key] = merged if found and _LINK_SLOT not in merged.subject else None
        if merge[key] is None:
            return _render(email.kind, context)
        return RenderedEmail(subject=merge[key].subject, text=merge[key].text.replace(_LINK_SLOT, link),
                             html=merge[key].html.replace(_LINK_SLOT, link))


_LINK_SLOT = "https://link.invalid/6f1d0c2a"  # rendered where the link goes, then swapped


def hooks_of(emails, hook):
    """{hook function: the emails whose kind has it}, so that kinds sharing one run it once."""
    grouped = {}
    for email in emails:
        function = getattr(EMAIL_KINDS.get(email.kind), hook, None)
        if function is not None:
            grouped.setdefault(function, []).append(email)
    return grouped


def _render(kind_name, context) -> RenderedEmail:
    subject = context.pop("subject")
    text = render_template(f"email/{kind_name}.txt", subject=subject, **context)
    html = render_template(f"email/{kind_name}.html", subject=subject, **context)
    return RenderedEmail(subject=subject, text=text, html=html)


def _plain(value):
    if value is None or isinstance(value, (str, int, float, bool, date)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    return False
