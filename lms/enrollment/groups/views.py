"""Admin pages for groups: list and create, a group's page with rename, delete and members."""
from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user

from lms.accounts.models import Role, User
from lms.clock import utcnow
from lms.enrollment.groups.forms import AddEmailsForm, AddMemberForm, GroupForm, TrainersForm
from lms.enrollment.groups.models import Group
from lms.enrollment.groups.services import (
    add_group_members,
    candidate_query,
    create_group,
    delete_group,
    groups_with_counts,
    member_query,
    open_to_trainers,
    remove_group_member,
    rename_group,
    sessions_using_group,
)
from lms.enrollment.invitations.services import invite_typed
from lms.errors import DomainError
from lms.extensions import db
from lms.web import (
    paginate,
    attach_error,
    get_or_404,
    redirect_after_post,
    render,
    roles_required,
    wants_fragment,
)

bp = Blueprint("groups", __name__, url_prefix="/admin/groups")

MEMBERS_PER_PAGE = 50
CANDIDATES_SHOWN = 10


@bp.before_request
@roles_required(Role.admin)
def require_admin():
    pass


@bp.route("", methods=["GET", "POST"])
def group_list():
    """An admin sees every group with its member count and creates new ones."""
    form = GroupForm()
    status = 200
    if form.validate_on_submit():
        try:
            group = create_group(form.name.data, actor=current_user, now=utcnow())
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash(f"Group {group.name!r} created; its id is {group.public_id}.", "success")
            if not wants_fragment("group-create"):
                return redirect_after_post(url_for("groups.group_list"))
            form = GroupForm(formdata=None)
    if form.errors:
        status = 422
    return render(
        "groups/list.html",
        "groups/partials/_create.html",
        ["group-create"],
        status=status,
        form=form,
        rows=groups_with_counts(),
    )


def _members_context(group):
    pagination = paginate(member_query(group), per_page=MEMBERS_PER_PAGE)
    return {"group": group, "members": pagination, "session_count": sessions_using_group(group),
            "trainers_form": TrainersForm(formdata=None, open_to_trainers=group.open_to_trainers),
            "emails_form": AddEmailsForm(prefix="emails", formdata=None)}


@bp.route("/<int:group_id>")
def group_detail(group_id):
    """An admin reads a group: its public id, its members (add, remove), rename and delete."""
    group = get_or_404(Group, group_id)
    return render(
        "groups/detail.html",
        "groups/partials/_members.html",
        ["group-members"],
        form=GroupForm(obj=group),
        **_members_context(group),
    )


@bp.route("/<int:group_id>/name", methods=["GET", "POST"])
def group_name(group_id):
    """Click-to-edit of the group's name: GET shows it (or the form with ?edit), POST renames."""
    group = get_or_404(Group, group_id)
    form = GroupForm(obj=group)
    editing = "edit" in request.args
    status = 200
    if request.method == "POST":
        editing = True
        if form.validate_on_submit():
            try:
                rename_group(group, form.name.data, actor=current_user, now=utcnow())
            except DomainError as error:
                db.session.rollback()
                attach_error(form, error)
            else:
                db.session.commit()
                flash("Group renamed.", "success")
                editing = False
                if not wants_fragment("group-name"):
                    return redirect_after_post(url_for("groups.group_detail", group_id=group.id))
        if form.errors:
            status = 422
    if not wants_fragment("group-name"):
        context = _members_context(group)
        return render_template("groups/detail.html", form=form, editing=editing, **context), status
    renamed = request.method == "POST" and not editing
    return render_template(
        "groups/partials/_name.html", group=group, form=form, editing=editing, renamed=renamed
    ), status


@bp.route("/<int:group_id>/trainers", methods=["POST"])
def group_trainers(group_id):
    """Open the group to trainers (they may add it to their sessions), or close it."""
    group = get_or_404(Group, group_id)
    form = TrainersForm()
    if not form.validate_on_submit():
        abort(400)
    open_to_trainers(group, form.open_to_trainers.data, actor=current_user, now=utcnow())
    db.session.commit()
    if wants_fragment("group-trainers"):
        return render_template("groups/partials/_trainers.html", group=group, trainers_form=form, saved=True)
    flash("Trainers may now add this group to their sessions." if group.open_to_trainers
          else "Only admins may add this group to sessions now.", "success")
    return redirect_after_post(url_for("groups.group_detail", group_id=group.id))


@bp.route("/<int:group_id>/delete", methods=["POST"])
def group_delete(group_id):
    """An admin deletes a group; refused, with the reason, while a session uses it."""
    group = get_or_404(Group, group_id)
    name = group.name
    try:
        delete_group(group, actor=current_user, now=utcnow())
    except DomainError as error:
        db.session.rollback()
        if wants_fragment("group-danger"):
            return render_template("groups/partials/_danger.html", group=group, error=error.message), 409
        flash(error.message, "error")
        return redirect_after_post(url_for("groups.group_detail", group_id=group.id))
    db.session.commit()
    flash(f"Group {name!r} deleted.", "success")
    return redirect_after_post(url_for("groups.group_list"))


@bp.route("/<int:group_id>/candidates")
def member_candidates(group_id):
    """Search-as-you-type for users to add to the group."""
    group = get_or_404(Group, group_id)
    q = request.args.get("q", "").strip()[:200]
    users = db.session.scalars(candidate_query(group, q).limit(CANDIDATES_SHOWN)).all() if q else []
    return render(
        "groups/candidates.html",
        "groups/partials/_candidates.html",
        ["member-candidates"],
        group=group,
        users=users,
        q=q,
    )


@bp.route("/<int:group_id>/members", methods=["POST"])
def member_add(group_id):
    """An admin adds an existing user to the group."""
    group = get_or_404(Group, group_id)
    form = AddMemberForm()
    if not form.validate_on_submit():
        abort(400)
    user = get_or_404(User, form.user_id.data)
    if add_group_members(group, [user.id], actor=current_user, now=utcnow()):
        flash(f"{user.display_name} added to {group.name}.", "success")
    else:
        flash(f"{user.display_name} was already in {group.name}.", "info")
    db.session.commit()
    return _members_response(group)


@bp.route("/<int:group_id>/emails", methods=["POST"])
def member_add_emails(group_id):
    """Add emails: newcomers are invited into the group (so into its ongoing and future
    sessions, R2) as learners; people who have an account are added to it (R1)."""
    group = get_or_404(Group, group_id)
    form = AddEmailsForm(prefix="emails")
    context = _members_context(group)
    if form.validate_on_submit():
        try:
            outcome = invite_typed(form.emails.data, actor=current_user, now=utcnow(), group_ids=[group.id],
                                   send_email=form.send_email.data)
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash(outcome.summary(), "success" if not outcome.rejected else "info")
            for raw, reason in outcome.rejected:
                flash(f"{raw}: {reason}.", "error")
            context = _members_context(group)  # a fresh form, and the new members
            form = context["emails_form"]
    context["emails_form"] = form
    status = 422 if form.errors else 200
    if wants_fragment("group-add-emails"):
        return render_template("groups/partials/_add_emails.html", members_oob=True, **context), status
    if status == 200:
        return redirect_after_post(url_for("groups.group_detail", group_id=group.id))
    return render_template("groups/detail.html", form=GroupForm(obj=group), **context), status


@bp.route("/<int:group_id>/members/<int:user_id>/remove", methods=["POST"])
def member_remove(group_id, user_id):
    """An admin removes a member from the group."""
    group = get_or_404(Group, group_id)
    user = get_or_404(User, user_id)
    if remove_group_member(group, user, actor=current_user, now=utcnow()):
        flash(f"{user.display_name} removed from {group.name}.", "success")
    db.session.commit()
    return _members_response(group)


def _members_response(group):
    if wants_fragment("group-members"):
        return render_template("groups/partials/_members.html", **_members_context(group))
    return redirect_after_post(url_for("groups.group_detail", group_id=group.id))
