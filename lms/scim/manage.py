"""SCIM provisioning for admins: the address to give an identity provider, and its tokens
(create one, shown once; see when each was last used; revoke)."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from lms.accounts.models import Role
from lms.clock import utcnow
from lms.errors import DomainError
from lms.extensions import db
from lms.scim.forms import RevokeForm, TokenForm
from lms.scim.tokens import create_token, find_token, list_tokens, revoke_token
from lms.web import attach_error, redirect_after_post, roles_required

bp = Blueprint("scim_tokens", __name__, url_prefix="/admin/scim")


@bp.before_request
@roles_required(Role.admin)
def require_admin():
    pass


def _page(form, new_token=None, status=200):
    return render_template("scim/tokens.html", form=form, tokens=list_tokens(), new_token=new_token,
                           revoke_form=RevokeForm(), scim_url=url_for("scim.root", _external=True).rstrip("/")), status


@bp.get("/")
def token_list():
    return _page(TokenForm(formdata=None))


@bp.get("/tokens")
def token_page_again():
    """The address the new token was shown at, opened again (a reload, the history): the list,
    without the token."""
    return redirect(url_for("scim_tokens.token_list"), 303)


@bp.post("/tokens")
def token_create():
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        row, secret = create_token(form.name.data, actor=current_user, now=utcnow())
    except DomainError as error:
        attach_error(form, error)
        return _page(form, status=400)
    db.session.commit()
    # Shown on this answer only (never stored, never redirected to, pages are not cached).
    return _page(TokenForm(formdata=None), new_token=(row, secret), status=201)


@bp.post("/tokens/<token_id>/revoke")
def token_revoke(token_id):
    form = RevokeForm()
    if not form.validate_on_submit():
        flash("The form expired. Reload the page and try again.", "error")
        return redirect_after_post(url_for("scim_tokens.token_list"))
    try:
        row = find_token(token_id)
    except DomainError as error:
        flash(error.message, "error")
        return redirect_after_post(url_for("scim_tokens.token_list"))
    if revoke_token(row, actor=current_user, now=utcnow()):
        db.session.commit()
        flash(f"The token “{row.name}” is revoked: requests with it are refused from now on.", "success")
    else:
        flash(f"The token “{row.name}” was already revoked.", "info")
    return redirect_after_post(url_for("scim_tokens.token_list"))
