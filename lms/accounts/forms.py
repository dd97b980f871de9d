from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from lms.accounts.models import Role, UserStatus
from lms.accounts.services import MAX_EXTERNAL_ID_LENGTH, MIN_PASSWORD_LENGTH
from lms.forms import MultiCheckboxField, choices

ROLE_CHOICES = [(role.value, role.label) for role in Role]


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), [DataRequired(), Length(max=320)], render_kw={"autocomplete": "username"})
    password = PasswordField(
        _l("Password"), [DataRequired(), Length(max=500)], render_kw={"autocomplete": "current-password"}
    )
    remember = BooleanField(_l("Keep me signed in on this device"))


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), [DataRequired(), Length(max=320)], render_kw={"autocomplete": "username"})


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
    external_id = StringField(
        "External id (HR system)",
        description="The person's id in the HR system (employee number, Moodle idnumber, Canvas SIS id, "
                    "SCIM externalId): rosters match on it before the email. Leave empty for none.",
        render_kw={"maxlength": MAX_EXTERNAL_ID_LENGTH, "autocomplete": "off", "spellcheck": "false"},
    )  # checked by update_user (trimmed, unique), so the CLI and the page say the same
    groups = MultiCheckboxField("Groups", coerce=int, choices=[])
    must_change_password = BooleanField(
        "Must change password at next sign-in",
        description="Every page asks for a new password until the person has chosen one.",
    )


class UserFilterForm(FlaskForm):
    """The users table's search and filters (GET, so no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField("Search", [Optional(), Length(max=300)])  # an external id has up to 255 characters
    status = SelectField(
        "Status",
        [Optional()],
        choices=choices([("", "Any status")] + [(s.value, s.value.title()) for s in UserStatus]),
    )
    role = SelectField("Role", [Optional()], choices=choices([("", "Any role")] + ROLE_CHOICES))
    group = SelectField("Group", [Optional()], choices=[])


class AccountSettingsForm(FlaskForm):
    language = SelectField(_l("Language"), choices=[])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), [DataRequired(), Length(max=500)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("New password"), [DataRequired(), Length(min=8, max=500)],
                                 description=_l("At least %(count)d characters.", count=8),
                                 render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(
        _l("New password again"),
        [DataRequired(), EqualTo("new_password", message=_l("The two passwords are not the same."))],
        render_kw={"autocomplete": "new-password"},
    )


class NamesForm(FlaskForm):
    first_name = StringField(_l("First name"), [DataRequired(), Length(max=100)],
                             render_kw={"autocomplete": "given-name"})
    last_name = StringField(_l("Last name"), [DataRequired(), Length(max=100)],
                            render_kw={"autocomplete": "family-name"})


class ChoosePasswordForm(FlaskForm):
    password = PasswordField(
        _l("Password"),
        [DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=500)],
        description=_l("At least %(count)d characters.", count=MIN_PASSWORD_LENGTH),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Password again"),
        [DataRequired(), EqualTo("password", message=_l("The two passwords are not the same."))],
        render_kw={"autocomplete": "new-password"},
    )


class RegistrationForm(NamesForm, ChoosePasswordForm):
    """Names first, then the password (WTForms orders fields as they were declared)."""
