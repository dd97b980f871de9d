"""The audit log page for admins: who did what to whom and when, filtered, and its CSV export."""
import csv
import io
import json
from datetime import timezone

from flask import Blueprint, request, stream_with_context

from lms.accounts.models import Role
from lms.audit.forms import AuditFilterForm
from lms.audit.log import AuditFilters, account_of, all_entries, anyone_named, describe, event_query
from lms.enrollment.rosters.export import neutralise
from lms.web import download, paginate, render, roles_required, wants_fragment

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")

EVENTS_PER_PAGE = 50
FILTER_NAMES = ("user", "actor", "action", "date_from", "date_to")
CSV_COLUMNS = ["time_utc", "actor_email", "action", "person_email", "target_type", "target_id", "details",
               "sentence"]


@bp.before_request
@roles_required(Role.admin)
def require_admin():
    pass


def _filters():
    """(form, AuditFilters, notes): the filters the query string sets, those the form refuses
    left out (the form shows why), and what the page says of the people filters."""
    form = AuditFilterForm(formdata=request.args)
    form.validate()

    def value(field):
        return field.data if not field.errors and field.data else None

    filters = AuditFilters(person=value(form.user) or "", actor=value(form.actor) or "",
                           action=value(form.action) or "", date_from=value(form.date_from),
                           date_to=value(form.date_to))
    notes = []
    for label, text in (("Person", filters.person), ("Done by", filters.actor)):
        if text and not anyone_named(text):
            notes.append(f"{label}: no account has the id, or an email or a name starting with, “{text}”.")
    return form, filters, notes


@bp.route("")
def event_list():
    """An admin reads who did what to whom and when, newest first, 50 a page; filters by the
    person, who did it, the kind of action and the dates."""
    form, filters, notes = _filters()
    pagination = paginate(event_query(filters), per_page=EVENTS_PER_PAGE)
    args = {name: request.args[name] for name in FILTER_NAMES if request.args.get(name)}
    return render(
        "audit/list.html",
        "audit/partials/_table.html",
        ["audit-table"],
        form=form,
        pagination=pagination,
        entries=describe(pagination.items),
        args=args,
        notes=notes,
        person=account_of(filters.person) if filters.person else None,
        show_form_errors=wants_fragment("audit-table"),
    )


@bp.route("/export.csv")
def export():
    """An admin downloads the events the filters select, every one of them, as CSV (UTC times),
    safe to open in a spreadsheet."""
    _, filters, _ = _filters()
    return download(stream_with_context(_csv(event_query(filters))), "text/csv; charset=utf-8", "audit-log.csv")


def _csv(query):
    """The CSV, written a batch of events at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for number, entry in enumerate(all_entries(query), start=1):
        event = entry.event
        writer.writerow([neutralise(cell) for cell in (
            event.created_at.astimezone(timezone.utc).isoformat(),
            entry.actor.note if event.actor_id is not None else "",
            event.action,
            entry.person.note if entry.person is not None else "",
            event.target_type or "",
            str(event.target_id) if event.target_id is not None else "",
            json.dumps(event.details or {}, ensure_ascii=False, sort_keys=True, default=str),
            entry.full_text,
        )])
        if number % 500 == 0:
            yield _take(buffer)
    yield _take(buffer)


def _take(buffer):
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
