"""Helpers shared by every view: full page or htmx fragment, role checks, object loading."""
from functools import wraps

from flask import Response, abort, redirect, render_template, request
from flask_login import current_user
from sqlalchemy import func, select

from lms.db_utils import MAX_ID, as_id
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


MAX_PAGE = 100_000  # further pages are empty anyway; a bigger OFFSET overflows PostgreSQL


def filters_from(args, build):
    """A GET filter form built by `build(formdata)` from the query string; a hand-edited URL
    with values the form refuses shows everything rather than an error."""
    form = build(args)
    return form if form.validate() else build(None)


def list_args(*, keep_page=False):
    """The query string of a list page, to carry into its pager and forms: empty values dropped,
    and names url_for() reads itself (endpoint, _external, ...) too, so a hand-made URL cannot
    break or redirect the page's links."""
    return {key: value for key, value in request.args.items()
            if value and key != "endpoint" and not key.startswith("_") and (keep_page or key != "page")}


def get_or_404(model, ident):
    if not isinstance(ident, int) or not 0 < ident <= MAX_ID:
        abort(404)
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def page_number():
    return min(as_id(request.args.get("page", 1)) or 1, MAX_PAGE)


COUNT_LIMIT = 10_000  # a list counts its rows up to this, then says "10,000+"


class Page:
    """One page of a query's rows, with what the pager and the table's summary need. It reads
    the page's rows (and one more, to know whether a next page exists) and counts at most
    COUNT_LIMIT + 1 rows, so a list costs the same at 1,000 rows and at 1,000,000."""

    def __init__(self, query, *, page, per_page, count_limit=None):
        count_limit = count_limit or COUNT_LIMIT
        self.page, self.per_page = page, per_page
        rows = db.session.scalars(query.limit(per_page + 1).offset((page - 1) * per_page)).unique().all() \
            if _selects_one_entity(query) else db.session.execute(
                query.limit(per_page + 1).offset((page - 1) * per_page)).all()
        self.items, self.has_next = rows[:per_page], len(rows) > per_page
        counted = db.session.scalar(select(func.count()).select_from(
            query.order_by(None).limit(count_limit + 1).subquery()))
        self.total_is_exact = counted <= count_limit
        self.total = counted if self.total_is_exact else count_limit
        self.has_prev = page > 1
        self.prev_num, self.next_num = page - 1, page + 1

    @property
    def total_label(self) -> str:
        return f"{self.total:,}" + ("" if self.total_is_exact else "+")

    @property
    def pages(self):
        """How many pages, when the count is exact; else None (the pager says "Page 201")."""
        if not self.total_is_exact:
            return None
        return max(1, -(-self.total // self.per_page))


def _selects_one_entity(query) -> bool:
    descriptions = query.column_descriptions
    return len(descriptions) == 1 and descriptions[0].get("entity") is not None \
        and descriptions[0].get("expr") is descriptions[0].get("entity")


def paginate(query, *, per_page, page=None, count_limit=None) -> Page:
    return Page(query, page=page or page_number(), per_page=per_page, count_limit=count_limit)


def download(body, mimetype, filename):
    """A file the browser saves as `filename` rather than shows. `mimetype` may name its
    charset ("text/csv; charset=utf-8"), which is then not added a second time."""
    kind = {"content_type": mimetype} if ";" in mimetype else {"mimetype": mimetype}
    return Response(body, headers={"Content-Disposition": f'attachment; filename="{filename}"'}, **kind)


def attach_error(form, error):
    """Show a service's DomainError next to the field it names, else above the form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)
