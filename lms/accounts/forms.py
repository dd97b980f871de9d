from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from lms.accounts.models import Role, UserStatus
from lms.forms import MultiCheckboxField, choices

ROLE_CHOICES = [(role.value, role.label) for role in Role]


class LoginForm(FlaskForm):
    email = EmailField("Email", [DataRequired(), Length(max=320)], render_kw={"autocomplete": "username"})
    password = PasswordField(
        "Password", [DataRequired(), Length(max=500)], render_kw={"autocomplete": "current-password"}
    )
    remember = BooleanField("Keep me signed in on this device")


class UserForm(FlaskForm):
    first_name = StringField("First name", [Length(max=100)])
    last_name = StringField("Last name", [Length(max=100)])
    language = SelectField("Language", choices=[])
    role = SelectField("Role", choices=choices(ROLE_CHOICES))
    labels = StringField(
        "Labels", [Length(max=2000)], description="Separate several labels with | or a comma."
    )
    additional_info = TextAreaField("Additional information", [Length(max=5000)])
    deactivate_on = DateField(
        "Deactivate on",
        [Optional()],
        description="The account is deactivated at the start of this day. Leave empty for never.",
    )
    groups = MultiCheckboxField("Groups", coerce=int, choices=[])


class UserFilterForm(FlaskForm):
    """The users table's search and filters (GET, so no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField("Search", [Optional(), Length(max=200)])
    status = SelectField(
        "Status",
        [Optional()],
        choices=choices([("", "Any status")] + [(s.value, s.value.title()) for s in UserStatus]),
    )
    role = SelectField("Role", [Optional()], choices=choices([("", "Any role")] + ROLE_CHOICES))
    group = SelectField("Group", [Optional()], choices=[])
