"""Admin pages for users: the searchable table, a user's page, deactivation, export."""
from flask import Blueprint, abort, current_app, flash, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from lms.accounts.deactivation import deactivate_user, reactivate_user
from lms.accounts.forms import UserFilterForm, UserForm
from lms.accounts.models import Role, User
from lms.accounts.recovery import request_password_reset
from lms.accounts.services import parse_labels, update_user, user_search_query
from lms.audit.log import person_history
from lms.clock import utcnow
from lms.enrollment.groups.models import Group, GroupMembership
from lms.enrollment.groups.services import group_names_by_user, groups_with_counts, set_user_groups
from lms.enrollment.rosters import export as user_export
from lms.errors import DomainError
from lms.extensions import db
from lms.forms import choices
from lms.languages import language_name
from lms.web import (
    paginate,
    attach_error,
    download,
    filters_from,
    get_or_404,
    list_args,
    redirect_after_post,
    render,
    roles_required,
    wants_fragment,
)

bp = Blueprint("users", __name__, url_prefix="/admin/users")


@bp.before_request
@roles_required(Role.admin)
def require_admin():
    pass


def _group_choices():
    return [(group.id, group.name) for group, _, _ in groups_with_counts()]


def _filter_form(formdata):
    form = UserFilterForm(formdata=formdata)
    form.group.choices = choices([("", "Any group")] + [(str(i), n) for i, n in _group_choices()])
    return form


@bp.route("")
def user_list():
    """An admin searches and filters users, 50 a page."""
    filters = filters_from(request.args, _filter_form)
    group_id = int(filters.group.data) if filters.group.data else None
    query = user_search_query(filters.q.data, filters.status.data, filters.role.data, group_id)
    pagination = paginate(query, per_page=current_app.config["USERS_PER_PAGE"])
    groups = group_names_by_user([user.id for user in pagination.items])
    args = list_args()
    return render(
        "users/list.html",
        "users/partials/_table.html",
        ["user-table"],
        filters=filters,
        pagination=pagination,
        groups=groups,
        args=args,
    )


@bp.route("/export")
def export():
    """An admin downloads the users (optionally one group's) as CSV or XLSX."""
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        abort(400)
    group = None
    if request.args.get("group"):
        group = get_or_404(Group, request.args.get("group", type=int))  # not a number: 404
    users = user_export.export_users(group)
    if fmt == "csv":
        body, mimetype = user_export.to_csv(users), "text/csv; charset=utf-8"
    else:
        body = user_export.to_xlsx(users)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return download(body, mimetype, f"users.{fmt}")


def _user_form(user, formdata=None):
    form = UserForm(formdata=formdata, obj=None if formdata else user)
    languages = list(current_app.config["LMS_LANGUAGES"])
    if user.language not in languages:
        languages.append(user.language)
    form.language.choices = choices((code, language_name(code)) for code in languages)
    form.groups.choices = choices(_group_choices())
    if formdata is not None and "external_id" not in formdata:
        form.external_id.data = user.external_id  # a form without the field (an older page) keeps the key
    if formdata is None:
        form.role.data = user.role.value
        form.must_change_password.data = user.must_change_password
        form.labels.data = " | ".join(user.labels)
        form.groups.data = list(
            db.session.scalars(select(GroupMembership.group_id).where(GroupMembership.user_id == user.id))
        )
    return form


@bp.route("/<int:user_id>", methods=["GET", "POST"])
def user_detail(user_id):
    """An admin reads and edits one user: names, language, role, labels, groups, deactivation,
    the HR system's external id."""
    user = get_or_404(User, user_id)
    form = _user_form(user, request.form if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.validate():
            now = utcnow()
            try:
                changed = update_user(
                    user,
                    actor=current_user,
                    now=now,
                    first_name=form.first_name.data,
                    last_name=form.last_name.data,
                    language=form.language.data,
                    role=form.role.data,
                    labels=parse_labels(form.labels.data),
                    additional_info=form.additional_info.data,
                    deactivate_on=form.deactivate_on.data,
                    external_id=form.external_id.data,
                    must_change_password=form.must_change_password.data if "must_change_password_shown" in request.form
                    else None,
                )
                if set_user_groups(user, form.groups.data, actor=current_user, now=now):
                    changed.append("groups")
            except DomainError as error:
                db.session.rollback()
                attach_error(form, error)
            else:
                db.session.commit()
                flash("Changes saved." if changed else "Nothing to change.", "success")
                if not wants_fragment("user-form"):
                    return redirect_after_post(url_for("users.user_detail", user_id=user.id))
                form = _user_form(user)
                return render_template("users/partials/_form.html", user=user, form=form, saved=True)
        if form.errors:
            status = 422
    return render(
        "users/detail.html", "users/partials/_form.html", ["user-form"], status=status, user=user, form=form,
        history=person_history(user.id),
    )


@bp.route("/<int:user_id>/password-link", methods=["POST"])
def send_password_link(user_id):
    """An admin sends someone who cannot sign in a link to choose a new password (an invited
    person gets their invitation again)."""
    user = get_or_404(User, user_id)
    done = request_password_reset(user.email, now=utcnow(), actor=current_user)
    db.session.commit()
    if done == "reset":
        flash(f"A link to choose a new password is on its way to {user.email}.", "success")
    elif done == "invitation":
        flash(f"{user.display_name} has not registered yet: their invitation was sent again.", "success")
    else:  # a page older than a deactivation, or a cancelled invitation
        flash(f"Nothing was sent: {user.display_name}'s account is {user.status.value}.", "error")
    if wants_fragment("user-status"):
        return render_template("users/partials/_status.html", user=user)
    return redirect_after_post(url_for("users.user_detail", user_id=user.id))


@bp.route("/<int:user_id>/deactivate", methods=["POST"])
def deactivate(user_id):
    """An admin deactivates an account now: sign-in refused, open sessions end, emails cancelled."""
    return _change_status(user_id, deactivate_user, "{} is deactivated.")


@bp.route("/<int:user_id>/reactivate", methods=["POST"])
def reactivate(user_id):
    """An admin reactivates a deactivated account."""
    return _change_status(user_id, reactivate_user, "{} is reactivated.")


def _change_status(user_id, service, message):
    user = get_or_404(User, user_id)
    try:
        if service(user, actor=current_user, now=utcnow()):
            flash(message.format(user.display_name), "success")
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    if wants_fragment("user-status"):
        return render_template("users/partials/_status.html", user=user)
    return redirect_after_post(url_for("users.user_detail", user_id=user.id))
