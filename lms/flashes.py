"""Flash messages on htmx responses: an out-of-band swap of the #flashes region.

Every swapped htmx response carries the region, empty when there is nothing to say, so a
message about an earlier action does not linger next to the result of a new one.
"""
from flask import get_flashed_messages, render_template

from lms.extensions import htmx

SWAPPED_ERRORS = (409, 422)  # the statuses the page's htmx-config swaps besides 2xx


def append_oob_flashes(response):
    if not htmx or "HX-Redirect" in response.headers or response.direct_passthrough:
        return response
    if response.mimetype != "text/html" or response.status_code == 204:
        return response
    if response.status_code >= 300 and response.status_code not in SWAPPED_ERRORS:
        return response
    if htmx.history_restore_request:
        return response
    messages = get_flashed_messages(with_categories=True)
    oob = render_template("partials/_flashes.html", messages=messages, oob=True)
    response.set_data(response.get_data(as_text=True) + oob)
    return response
