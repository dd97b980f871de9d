"""Programs and sessions for trainers and admins: build sessions, fill their registration.

Who may do what is lms.programs.access: admins everything, a program's owner all of it, a
trainer the sessions they train.
"""
from datetime import timezone

from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from lms.accounts.models import Role, User, UserStatus
from lms.accounts.services import normalize_email_or_none, user_search_query
from lms.clock import platform_timezone, utcnow
from lms.db_utils import as_ids
from lms.enrollment.groups.models import Group
from lms.enrollment.groups.services import groups_with_counts
from lms.errors import DomainError
from lms.extensions import db
from lms.forms import choices
from lms.notifications.models import OutboxEmail
from lms.notifications.status import latest_email_states
from lms.programs import access, cascade
from lms.programs.forms import AddEmailsForm, AddGroupForm, AddLearnerForm, ProgramForm, SessionForm
from lms.programs.models import Enrollment, EnrollmentStatus, Program, ProgramSession, SessionGroup
from lms.programs.registration import add_emails_to_session
from lms.programs.services import (
    archive_program,
    create_program,
    create_session,
    programs_for,
    roster_rows,
    session_roster_query,
    staff_choices,
    status_counts,
    update_program,
    update_session,
)
from lms.web import (
    attach_error,
    get_or_404,
    page_number,
    paginate,
    redirect_after_post,
    render,
    roles_required,
    wants_fragment,
)

bp = Blueprint("sessions", __name__)

CANDIDATES_SHOWN = 10


@bp.before_request
@roles_required(Role.admin, Role.manager)
def require_staff():
    pass


def _program(program_id, *, to_change=False):
    """The program, if the current person may read it (or, `to_change`, edit it)."""
    program = get_or_404(Program, program_id)
    allowed = access.can_manage_program if to_change else access.can_open_program
    if not allowed(current_user, program):
        abort(403)
    return program


def _session(session_id):
    session = get_or_404(ProgramSession, session_id)
    if not access.can_manage_session(current_user, session):
        abort(403)
    return session


def _registered(session, user_id):
    """A person registered in the session (any answer); 404 for anyone else."""
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.session_id == session.id,
                                                            Enrollment.user_id == user_id))
    if enrollment is None:
        abort(404)
    return enrollment.user


def _to_utc(local):
    """A datetime-local value, read in the platform's time zone."""
    return local.replace(tzinfo=platform_timezone()).astimezone(timezone.utc) if local else None


def _to_local(instant):
    return instant.astimezone(platform_timezone()).replace(tzinfo=None) if instant else None


@bp.route("/programs", methods=["GET", "POST"])
def program_list():
    """A trainer sees their programs and creates one."""
    form = ProgramForm()
    if form.validate_on_submit():
        try:
            program = create_program(form.title.data, description=form.description.data, owner=current_user, now=utcnow())
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
        else:
            db.session.commit()
            flash(f"Program {program.title!r} created. Add its sessions below.", "success")
            return redirect_after_post(url_for("sessions.program_detail", program_id=program.id))
    status = 422 if form.errors else 200
    return render_template("programs/list.html", form=form, programs=programs_for(current_user)), status


def _session_form(session=None, formdata=None):
    form = SessionForm(formdata=formdata)
    form.trainers.choices = choices((user.id, user.display_name) for user in staff_choices())
    if formdata is None and session is not None:
        form.name.data = session.name
        form.starts_at.data, form.ends_at.data = _to_local(session.starts_at), _to_local(session.ends_at)
        form.trainers.data = [trainer.id for trainer in session.trainers]
    elif formdata is None:
        form.trainers.data = [current_user.id]
    return form


def _trainers(ids):
    return db.session.scalars(select(User).where(User.id.in_(ids or []))).all()


@bp.route("/programs/<int:program_id>", methods=["GET", "POST"])
def program_detail(program_id):
    """A trainer edits a program and adds its sessions; each session shows its state and answers."""
    program = _program(program_id, to_change=request.method == "POST")
    form = ProgramForm(obj=program)
    session_form = _session_form(formdata=request.form if request.form.get("form") == "session" else None)
    status, now = 200, utcnow()
    if request.method == "POST" and request.form.get("form") == "session":
        if session_form.validate():
            try:
                session = create_session(program, name=session_form.name.data, starts_at=_to_utc(session_form.starts_at.data),
                                         ends_at=_to_utc(session_form.ends_at.data),
                                         trainers=_trainers(session_form.trainers.data), actor=current_user, now=now)
            except DomainError as error:
                db.session.rollback()
                attach_error(session_form, error)
            else:
                db.session.commit()
                flash(f"Session {session.name!r} added.", "success")
                return redirect_after_post(url_for("sessions.session_detail", session_id=session.id))
        status = 422
    elif request.method == "POST" and form.validate_on_submit():
        try:
            update_program(program, title=form.title.data, description=form.description.data, actor=current_user, now=now)
        except DomainError as error:
            db.session.rollback()
            attach_error(form, error)
            status = 422
        else:
            db.session.commit()
            flash("Program saved.", "success")
            return redirect_after_post(url_for("sessions.program_detail", program_id=program.id))
    elif request.method == "POST":
        status = 422
    sessions = access.sessions_shown(current_user, program, [s for s in program.sessions if s.archived_at is None])
    return render_template("programs/detail.html", program=program, form=form, session_form=session_form,
                           sessions=sessions, counts=status_counts([s.id for s in sessions]), now=now,
                           manages_program=access.can_manage_program(current_user, program)), status


@bp.route("/programs/<int:program_id>/archive", methods=["POST"])
def program_archive(program_id):
    """A trainer archives a program: it leaves the lists; its history stays."""
    program = _program(program_id, to_change=True)
    archive_program(program, actor=current_user, now=utcnow())
    db.session.commit()
    flash(f"Program {program.title!r} archived.", "success")
    return redirect_after_post(url_for("sessions.program_list"))


REGISTRATIONS_PER_PAGE = 50


def _registration_context(session, status_filter=None, search="", page=1):
    """The registration panel: 50 learners a page (searched, filtered by status) and the counts
    by status from one grouped query, so a session of 50,000 costs what one of 50 does."""
    now = utcnow()
    counts = {status.value: 0 for status in EnrollmentStatus} | status_counts([session.id])[session.id]
    status_filter = status_filter if status_filter in counts else ""
    search = " ".join((search or "").split())[:200]
    pagination = paginate(session_roster_query(session, status=status_filter, search=search),
                          per_page=REGISTRATIONS_PER_PAGE, page=page)
    rows = roster_rows(session, pagination.items)
    assigned = db.session.scalars(
        select(Group).join(SessionGroup, SessionGroup.group_id == Group.id)
        .where(SessionGroup.session_id == session.id).order_by(Group.name_key)).all()
    assigned_ids = {group.id for group in assigned}
    # Fresh forms (formdata=None): after another action's POST they must not pick up its fields,
    # or "Send the invitation emails" would come back unticked.
    group_form = AddGroupForm(prefix="group", formdata=None)
    attachable = access.attachable_group_ids(current_user)
    group_form.group_id.choices = choices(
        (group.id, f"{group.name} ({members})") for group, members, _ in groups_with_counts()
        if group.id not in assigned_ids and (attachable is None or group.id in attachable))
    return {"session": session, "rows": rows, "counts": counts, "status_filter": status_filter, "search": search,
            "pagination": pagination, "args": {k: v for k, v in (("status", status_filter), ("q", search)) if v},
            "assigned": assigned, "group_form": group_form,
            "emails_form": AddEmailsForm(prefix="emails", formdata=None),
            "ended": cascade.has_ended(session, now), "now": now, "admin_view": attachable is None,
            "email_states": latest_email_states(OutboxEmail.enrollment_id, [row["enrollment"].id for row in rows],
                                                kinds=["session_invitation"], now=now)}


@bp.route("/sessions/<int:session_id>", methods=["GET", "POST"])
def session_detail(session_id):
    """A trainer reads and fills a session's registration: groups, learners, new emails."""
    session = _session(session_id)
    form = _session_form(session, request.form if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                update_session(session, name=form.name.data, starts_at=_to_utc(form.starts_at.data),
                               ends_at=_to_utc(form.ends_at.data), trainers=_trainers(form.trainers.data),
                               actor=current_user, now=utcnow())
            except DomainError as error:
                db.session.rollback()
                attach_error(form, error)
            else:
                db.session.commit()
                flash("Session saved.", "success")
                return redirect_after_post(url_for("sessions.session_detail", session_id=session.id))
        status = 422
    context = _registration_context(session, request.args.get("status"), request.args.get("q", ""), page_number())
    return render("programs/session.html", "programs/partials/_registration.html", ["registration"],
                  status=status, form=form, **context)


def _change_registration(session, action, describe):
    """Run one registration change: commit and say what happened, or roll back and say why."""
    try:
        result = action()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(*describe(result))
    return _registration_response(session)


def _plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def _registration_response(session):
    if wants_fragment("registration"):
        return render_template("programs/partials/_registration.html", **_registration_context(session))
    return redirect_after_post(url_for("sessions.session_detail", session_id=session.id))


@bp.route("/sessions/<int:session_id>/emails/send-now", methods=["POST"])
def session_send_emails_now(session_id):
    """Send now the invitation emails still waiting (for the start, a mail server, or because
    they were added with email off): one learner's, or every waiting one's."""
    session = _session(session_id)
    ids = as_ids(request.form.getlist("enrollment_id")) or None  # none chosen: everyone who waits
    try:
        sent = cascade.send_invitation_emails_now(session, ids, actor=current_user, now=utcnow())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"{sent} invitation email{'s' if sent != 1 else ''} will go out now." if sent
              else "No invitation email was waiting.", "success" if sent else "info")
    return _registration_response(session)


@bp.route("/sessions/<int:session_id>/groups", methods=["POST"])
def session_add_group(session_id):
    """+Group: every member is invited now, and members who join later when they join (R3)."""
    session = _session(session_id)
    form = AddGroupForm(prefix="group")
    form.group_id.choices = choices((group.id, group.name) for group, _, _ in groups_with_counts())
    if not form.validate_on_submit():
        flash("Choose a group to add.", "error")
        return _registration_response(session)
    group = get_or_404(Group, form.group_id.data)
    if not access.may_attach(current_user, group):
        abort(403)
    return _change_registration(
        session, lambda: cascade.assign_group(session, group, actor=current_user, now=utcnow()),
        lambda invited: (f"{group.name} added: {_plural(invited, 'learner')} invited.", "success"))


@bp.route("/sessions/<int:session_id>/groups/<int:group_id>/remove", methods=["GET", "POST"])
def session_remove_group(session_id, group_id):
    """Remove a group: first say how many pending invitations it cancels, then do it (R5)."""
    session = _session(session_id)
    group = get_or_404(Group, group_id)
    if request.method == "GET":
        return render("programs/confirm_remove_group.html", "programs/partials/_confirm_remove_group.html",
                      [f"group-{group.id}"], session=session, group=group,
                      cancels=cascade.pending_only_from_group(session, group))
    return _change_registration(
        session, lambda: cascade.remove_group(session, group, actor=current_user, now=utcnow()),
        lambda cancelled: (f"{group.name} removed; {_plural(cancelled, 'pending invitation')} cancelled.", "success"))


@bp.route("/sessions/<int:session_id>/learners/search")
def session_learner_search(session_id):
    """+Learner: search existing people as you type."""
    session = _session(session_id)
    q = request.args.get("q", "").strip()[:200]
    users, exact = [], None
    if q:
        registered = select(Enrollment.user_id).where(Enrollment.session_id == session.id,
                                                      Enrollment.status != EnrollmentStatus.cancelled)
        query = user_search_query(q).where(User.status != UserStatus.deactivated, User.id.not_in(registered))
        if current_user.role != Role.admin:  # no browsing of the directory: their people, or an exact address
            address = normalize_email_or_none(q)
            exact = db.session.scalar(
                select(User).where(User.email == address, User.status != UserStatus.deactivated,
                                   User.id.not_in(registered))) if address else None
            query = query.where(User.id.in_(access.reachable_user_ids(current_user)))
        users = db.session.scalars(query.limit(CANDIDATES_SHOWN)).all()
        if exact is not None and exact not in users:
            users.insert(0, exact)
    return render_template("programs/partials/_learner_candidates.html", session=session, users=users, q=q,
                           exact=exact, admin_view=current_user.role == Role.admin)


@bp.route("/sessions/<int:session_id>/learners", methods=["POST"])
def session_add_learner(session_id):
    """Add one existing learner to the session."""
    session = _session(session_id)
    form = AddLearnerForm()
    if not form.validate_on_submit():
        abort(400)
    user = get_or_404(User, form.user_id.data)
    typed_their_address = normalize_email_or_none(form.email.data) == user.email
    if not (typed_their_address or access.may_reach(current_user, user)):
        abort(403)
    return _change_registration(
        session, lambda: cascade.add_learner(session, user, actor=current_user, now=utcnow()),
        lambda invited: (f"{user.display_name} {'invited' if invited else 'was already registered'}.", "success"))


@bp.route("/sessions/<int:session_id>/learners/<int:user_id>/remove", methods=["POST"])
def session_remove_learner(session_id, user_id):
    """Remove a learner added directly (one a group brings stays, through the group)."""
    session = _session(session_id)
    user = _registered(session, user_id)
    return _change_registration(
        session, lambda: cascade.remove_learner(session, user, actor=current_user, now=utcnow()),
        lambda cancelled: (f"{user.display_name} removed from the session.", "success") if cancelled
        else (f"{user.display_name} stays registered through a group.", "info"))


@bp.route("/sessions/<int:session_id>/emails", methods=["POST"])
def session_add_emails(session_id):
    """Add emails: new people are invited to the platform, everyone is registered for the session."""
    session = _session(session_id)
    form = AddEmailsForm(prefix="emails")
    if not form.validate_on_submit():
        flash("Enter at least one email address.", "error")
        return _registration_response(session)
    return _change_registration(
        session, lambda: add_emails_to_session(session, form.emails.data, actor=current_user, now=utcnow(),
                                               send_email=form.send_email.data),
        lambda outcome: (outcome.summary(), "success" if not outcome.rejected else "info"))
