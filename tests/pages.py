"""Reading pages as a person does: visible text, field errors, flash messages, form values."""
import re
from datetime import datetime, timezone
from html import unescape

INLINE_TAGS = r"</?(?:a|b|code|em|small|span|strong)\b[^>]*>"


def utcnow():
    """The real clock: views use it, so tests of views build their dates from it."""
    return datetime.now(timezone.utc)


def text(response):
    return response.get_data(as_text=True)


def visible(html):
    """The text a person reads: tags dropped, entities decoded, whitespace collapsed."""
    html = re.sub(INLINE_TAGS, "", html)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def field_error(html, field):
    """The message shown next to a form field, or None."""
    match = re.search(rf'<small id="{field}-error" class="field-error">(.*?)</small>', html, re.S)
    return visible(match.group(1)) if match else None


def flashes(html):
    return [visible(m) for m in re.findall(r'<p class="flash flash-\w+"[^>]*>(.*?)</p>', html, re.S)]


def input_value(html, name):
    tag = re.search(rf'<input\b[^>]*\bname="{name}"[^>]*>', html).group(0)
    value = re.search(r'\bvalue="([^"]*)"', tag)
    return unescape(value.group(1)) if value else ""
