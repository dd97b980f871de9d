"""Helpers shared by every view: full page or htmx fragment, role checks, object loading."""
from functools import wraps

from flask import Response, abort, redirect, render_template, request
from flask_login import current_user

from lms.extensions import db, htmx


def wants_fragment(*targets):
    """True when htmx asked to swap one of `targets` (element ids), not for boosted navigation."""
    return bool(htmx) and htmx.target in targets


def render(page, fragment, targets, status=200, **context):
    """Render `fragment` for an htmx request aimed at one of `targets`, else the full `page`."""
    template = fragment if wants_fragment(*targets) else page
    return render_template(template, **context), status


def redirect_after_post(location):
    """303 for plain forms; HX-Redirect so htmx does a full navigation."""
    if htmx:
        return "", 204, {"HX-Redirect": location}
    return redirect(location, 303)


def roles_required(*roles):
    """Anonymous users go to the login page; signed-in users without the role get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from lms.extensions import login_manager

                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


MAX_ID = 2**31 - 1  # beyond PostgreSQL's integer: a typed URL, not a row


def filters_from(args, build):
    """A GET filter form built by `build(formdata)` from the query string; a hand-edited URL
    with values the form refuses shows everything rather than an error."""
    form = build(args)
    return form if form.validate() else build(None)


def get_or_404(model, ident):
    if not isinstance(ident, int) or not 0 < ident <= MAX_ID:
        abort(404)
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def page_number():
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def download(body, mimetype, filename):
    """A file the browser saves as `filename` rather than shows."""
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def attach_error(form, error):
    """Show a service's DomainError next to the field it names, else above the form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)
