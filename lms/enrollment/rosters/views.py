"""Set multiple accounts: paste or upload a roster, preview it, import it in the background
and read its report and the people it named; the XLSX template, the groups' ids, the rejected
rows, past imports.

Admins only (HR). A preview is a draft ImportJob: nothing else is written until Import.
"""
from datetime import date

from flask import Blueprint, current_app, flash, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from lms.accounts.models import Role
from lms.clock import utcnow
from lms.db_utils import get_by_id
from lms.enrollment.groups.services import groups_with_counts
from lms.enrollment.invitations.views import fill_choices
from lms.enrollment.rosters.downloads import group_ids_csv, rejected_rows_csv, roster_template
from lms.enrollment.rosters.forms import ImportForm, columns_form
from lms.enrollment.rosters.importer import defaults_for
from lms.enrollment.rosters.jobs import (
    PEOPLE_OUTCOMES,
    discard_import_draft,
    people_counts,
    people_of_import,
    preview_import,
    remap_preview,
    run_import_job_in_thread,
    start_import_job,
)
from lms.enrollment.rosters.models import ImportJob, ImportJobStatus
from lms.enrollment.rosters.parser import COLUMNS, RosterUnreadable
from lms.errors import DomainError
from lms.extensions import db
from lms.web import download, get_or_404, page_number, paginate, redirect_after_post, render, roles_required, wants_fragment

bp = Blueprint("rosters", __name__, url_prefix="/admin/imports")

PREVIEW_ROWS_PER_PAGE = 100
IMPORTS_PER_PAGE = 25
PREVIEW_FILTERS = {"all": None, "error": "error", "create": "create", "update": "update",
                   "unchanged": "unchanged", "skip": "skip"}


@bp.before_request
@roles_required(Role.admin)
def require_admin():
    pass


@bp.route("/new", methods=["GET", "POST"])
def new_import():
    """HR pastes rows or uploads a file, picks the mode and the defaults, and previews."""
    groups = groups_with_counts()
    form = fill_choices(ImportForm(), groups)
    public_ids = {group.id: group.public_id for group, _, _ in groups}
    status = 200
    if request.method == "GET":
        _prefill(form, {public_id: group_id for group_id, public_id in public_ids.items()})
    earlier = _draft(form.draft.data)
    if form.validate_on_submit():
        upload, pasted = form.file.data, (form.roster.data or "").strip()
        if upload and pasted:
            form.roster.errors.append("Paste rows or upload a file, not both.")
        elif not upload and not pasted and (earlier is None or earlier.source == "paste"):
            form.roster.errors.append("Paste some rows or choose a file.")
        else:
            columns = {}  # a new roster's columns are read afresh; the same file's as they were chosen
            if upload:
                data, source, filename = upload.read(), _source_of(upload), upload.filename[-255:]
            elif pasted:
                data, source, filename = form.roster.data.encode(), "paste", None
            else:  # the same roster, other options
                data, source, filename = earlier.input_data, earlier.source, earlier.filename
                columns = {"mapping": earlier.options.get("mapping"), "sheet": earlier.options.get("sheet")}
            try:
                job = preview_import(
                    data, source=source, filename=filename, kind="paste" if source == "paste" else "auto",
                    mode=form.mode.data, strict=form.strict.data,
                    defaults=defaults_for(language=form.language.data, role=form.role.data,
                                          groups=[public_ids[group_id] for group_id in form.groups.data],
                                          deactivate_on=form.deactivate_on.data, send_email=form.send_email.data,
                                          generate_passwords=form.generate_passwords.data),
                    actor=current_user, now=utcnow(), **columns)
            except RosterUnreadable as error:
                db.session.rollback()
                (form.file if upload else form.roster).errors.append(str(error))
            else:
                if earlier is not None:
                    discard_import_draft(earlier)  # replaced by this preview
                db.session.commit()
                return redirect_after_post(url_for("rosters.import_detail", job_id=job.id))
    if form.errors:
        status = 422
    return render("rosters/new.html", "rosters/partials/_form.html", ["import-form"], status=status, form=form,
                  groups=groups, recent=_recent_imports(5), earlier=earlier,
                  defaults_changed=_defaults_changed(form))


def _source_of(upload):
    return "xlsx" if upload.filename.lower().endswith(".xlsx") else "csv"


def _draft(job_id):
    """The draft a form came back with ("Edit and preview again", "Change the options")."""
    job = get_by_id(ImportJob, job_id)
    return job if job is not None and job.status == ImportJobStatus.draft else None


def _prefill(form, group_ids):
    """The form as it was for a draft: its options, and its rows in the paste box (a file's
    rows stay in the draft, used again unless another file is chosen).
    `group_ids`: {public id: id}, as defaults name groups by public id (never ambiguous)."""
    job = _draft(request.args.get("from"))
    if job is None:
        return
    defaults = job.options.get("defaults", {})
    form.draft.data = job.id
    form.mode.data, form.strict.data = job.mode, job.is_strict
    form.language.data, form.role.data = defaults.get("language"), defaults.get("role")
    form.groups.data = [group_ids[public_id] for public_id in defaults.get("groups", []) if public_id in group_ids]
    form.send_email.data = defaults.get("send_email", True)
    form.generate_passwords.data = defaults.get("generate_passwords", False)
    if defaults.get("deactivate_on"):
        form.deactivate_on.data = date.fromisoformat(defaults["deactivate_on"])
    if job.source == "paste":
        form.roster.data = (job.input_data or b"").decode("utf-8", errors="replace")


def _defaults_changed(form):
    return bool(form.groups.data or form.deactivate_on.data or form.send_email.data is False
                or form.generate_passwords.data or form.generate_passwords.errors
                or form.role.data not in (None, "learner")
                or form.language.data not in (None, current_app.config["LMS_DEFAULT_LANGUAGE"]))


def _recent_imports(limit):
    return db.session.scalars(select(ImportJob).where(ImportJob.status != ImportJobStatus.draft)
                              .order_by(ImportJob.created_at.desc(), ImportJob.id.desc()).limit(limit)).all()


@bp.route("")
def import_list():
    """Every import that ran, newest first, with its figures; each opens on its report."""
    query = (select(ImportJob).where(ImportJob.status != ImportJobStatus.draft)
             .order_by(ImportJob.created_at.desc(), ImportJob.id.desc()))
    pagination = paginate(query, per_page=IMPORTS_PER_PAGE)
    return render("rosters/list.html", "rosters/partials/_list.html", ["import-list"], pagination=pagination)


@bp.route("/<int:job_id>")
def import_detail(job_id):
    """A draft shows its preview; a queued or running import its progress (polled); a
    finished one its report, with the people it created, updated, left unchanged or skipped
    (a tab each, 50 a page, searchable by email)."""
    job = get_or_404(ImportJob, job_id)
    if job.status == ImportJobStatus.draft:
        return _preview_page(job)
    context = {"job": job}
    if job.status in (ImportJobStatus.finished, ImportJobStatus.failed):
        context.update(_people_context(job))
        if wants_fragment("import-people"):
            return render_template("rosters/partials/_people.html", **context)
        # The progress bar's last poll brings the people in beside the report.
        context["people_out_of_band"] = wants_fragment("import-progress")
    return render("rosters/job.html", "rosters/partials/_progress.html", ["import-progress"], **context)


def _people_context(job):
    shown = request.args.get("people", "all")
    if shown not in PEOPLE_OUTCOMES:
        shown = "all"
    search = request.args.get("q", "")[:320]
    people = people_of_import(job, outcome=None if shown == "all" else shown, search=search, page=page_number())
    return {"people": people, "people_shown": shown, "people_search": search, "people_counts": people_counts(job)}


def _preview_page(job):
    shown = request.args.get("show", "all")
    if shown not in PREVIEW_FILTERS:
        shown = "all"
    rows = job.preview or []
    if PREVIEW_FILTERS[shown]:
        rows = [row for row in rows if row["action"] == PREVIEW_FILTERS[shown]]
    pages = max(1, -(-len(rows) // PREVIEW_ROWS_PER_PAGE))
    page = min(page_number(), pages)
    counts = {"all": job.rows_total, "error": job.rejected_count,
              "create": job.created_count, "update": job.updated_count, "unchanged": job.unchanged_count,
              "skip": job.skipped_count}
    page_rows = rows[(page - 1) * PREVIEW_ROWS_PER_PAGE: page * PREVIEW_ROWS_PER_PAGE]
    # Columns empty on this page are left out, so the table fits and every error is in sight.
    # Every field an account gets (the form's defaults too).
    given = [column for column in job.options.get("columns") or [] if column in SHOWN_FIELDS]
    shown_columns = [column for column in SHOWN_FIELDS if column == "email" or any(
        row["cells"].get(column) or row["errors"].get(column) for row in page_rows)]
    context = dict(job=job, shown=shown, per_page=PREVIEW_ROWS_PER_PAGE, counts=counts, page_number=page,
                   pages=pages, total_shown=len(rows), rows=page_rows, columns=shown_columns,
                   empty_columns=[column for column in given if column not in shown_columns],
                   header_errors=_header_errors(job), columns_form=columns_form_of(job))
    return render("rosters/preview.html", "rosters/partials/_preview_table.html", ["preview-table"], **context)


# What a preview row can show (a full name shows split).
SHOWN_FIELDS = (*COLUMNS, "external_id", "must_change_password")


def columns_form_of(job, formdata=None):
    options = job.options or {}
    return columns_form(options.get("titles") or [], options.get("columns") or [], options.get("sheets") or [],
                        options.get("sheet_read"), formdata=formdata)


@bp.route("/<int:job_id>/columns", methods=["POST"])
def import_columns(job_id):
    """The mapping step: read the previewed file again with its columns as HR chose them (or
    another sheet of the workbook), without a new upload; the mapping is remembered for the
    next file with the same header."""
    job = get_or_404(ImportJob, job_id)
    if job.status != ImportJobStatus.draft:
        flash("This import has already been started: its columns can no longer be changed.", "error")
        return redirect_after_post(url_for("rosters.import_detail", job_id=job_id))
    form = columns_form_of(job, formdata=request.form)
    if not form.validate():
        problems = [f"{entry.label.text}: {' '.join(entry.errors)}" for entry in form.columns if entry.errors]
        problems += [f"Sheet: {' '.join(form.sheet.errors)}"] if form.sheet.errors else []
        problems += [" ".join(form.csrf_token.errors)] if form.csrf_token.errors else []
        flash(f"The columns could not be read as chosen: {'; '.join(problems)} Choose from the lists.", "error")
        return redirect_after_post(url_for("rosters.import_detail", job_id=job_id))
    mapping = {str(number): entry.data for number, entry in enumerate(form.columns, start=1)}
    try:
        new = remap_preview(job, mapping, sheet=form.sheet.data or None, actor=current_user, now=utcnow())
    except RosterUnreadable as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect_after_post(url_for("rosters.import_detail", job_id=job_id))
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect_after_post(url_for("rosters.import_list"))
    db.session.commit()
    return redirect_after_post(url_for("rosters.import_detail", job_id=new.id))


def _header_errors(job):
    """The errors about the whole roster (its header, its columns), which no row's cell shows."""
    if "roster_errors" in (job.options or {}):
        return job.options["roster_errors"]
    lines = {row["line"] for row in job.preview or []}  # a draft from before roster_errors were kept
    return [error for error in job.errors or [] if error["line"] not in lines]


@bp.route("/<int:job_id>/start", methods=["POST"])
def import_start(job_id):
    """Import the previewed rows: the job is queued and run outside the request."""
    job = get_or_404(ImportJob, job_id)
    try:
        start_import_job(job, now=utcnow())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect_after_post(url_for("rosters.import_detail", job_id=job_id))
    db.session.commit()
    if current_app.config["LMS_IMPORT_IN_BACKGROUND"]:
        run_import_job_in_thread(current_app._get_current_object(), job.id)
    return redirect_after_post(url_for("rosters.import_detail", job_id=job.id))


@bp.route("/<int:job_id>/discard", methods=["POST"])
def import_discard(job_id):
    """Forget a preview without importing it."""
    job = get_or_404(ImportJob, job_id)
    if not discard_import_draft(job):
        flash("This import has already been started; it was not discarded.", "error")
        return redirect_after_post(url_for("rosters.import_detail", job_id=job_id))
    db.session.commit()
    flash("The preview was discarded; nothing was imported.", "info")
    return redirect_after_post(url_for("rosters.new_import"))


@bp.route("/<int:job_id>/rejected.csv")
def rejected_rows(job_id):
    """The rows with errors, each after a comment saying why, to fix and import again."""
    job = get_or_404(ImportJob, job_id)
    return download(rejected_rows_csv(job), "text/csv; charset=utf-8", f"rejected-rows-import-{job.id}.csv")


@bp.route("/template.xlsx")
def template():
    """The XLSX template: header, two example rows, drop-down lists, instructions."""
    data = roster_template(current_app.config["LMS_LANGUAGES"])
    return download(data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "accounts-template.xlsx")


@bp.route("/group-ids.csv")
def group_ids():
    """Every group's id for rosters, with its name."""
    return download(group_ids_csv(groups_with_counts()), "text/csv; charset=utf-8", "group-ids.csv")

