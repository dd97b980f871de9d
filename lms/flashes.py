"""Flash messages on htmx responses: appended as an out-of-band swap of the #flashes region."""
from flask import get_flashed_messages, render_template

from lms.extensions import htmx


def append_oob_flashes(response):
    if not htmx or response.status_code >= 300 or "HX-Redirect" in response.headers:
        return response
    if not response.mimetype == "text/html" or response.direct_passthrough:
        return response
    messages = get_flashed_messages(with_categories=True)
    if messages:
        oob = render_template("partials/_flashes.html", messages=messages, oob=True)
        response.set_data(response.get_data(as_text=True) + oob)
    return response
