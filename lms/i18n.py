"""Which language a page or an email is in.

Pages before sign-in (an invitation, a dead link) follow the language the invitation was
written in; signed-in people get their own; others get the browser's best match.
"""
from functools import lru_cache

import flask_babel
from flask import current_app, g, has_request_context, request
from flask_login import current_user

from lms.config import locale_of


def use_language(language_tag):
    """Render the rest of this request in `language_tag` (e.g. the invitation's language)."""
    g.lms_language = language_tag


def select_locale():
    supported = current_app.config["LMS_LANGUAGES"]
    language = g.get("lms_language")
    if language is None and has_request_context():
        if current_user.is_authenticated:
            language = current_user.language
        else:
            language = request.accept_languages.best_match(supported)
    return locale_of(language or current_app.config["LMS_DEFAULT_LANGUAGE"])


def format_instant(value, pattern):
    """flask_babel.format_datetime, remembered per locale and time zone: a bulk send formats
    the same session dates for every recipient, and Babel's formatting is slow."""
    return _format_instant(value, pattern, str(flask_babel.get_locale()), str(flask_babel.get_timezone()))


@lru_cache(maxsize=1024)
def _format_instant(value, pattern, locale, timezone):
    return flask_babel.format_datetime(value, pattern)
