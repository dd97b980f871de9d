from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from lms.forms import MultiCheckboxField, choices


class GroupForm(FlaskForm):
    name = StringField("Group name", [DataRequired(), Length(max=120)])


class AddMemberForm(FlaskForm):
    user_id = IntegerField("User", [DataRequired()])


class InviteForm(FlaskForm):
    emails = TextAreaField(
        "Email addresses",
        [DataRequired(message="Enter at least one email address.")],
        description="Separate addresses with commas, semicolons, spaces or new lines (up to 1,000).",
        render_kw={"rows": 5, "autocomplete": "off", "spellcheck": "false"},
    )
    role = SelectField("Role", choices=[])
    groups = MultiCheckboxField("Groups", coerce=int, choices=[])
    language = SelectField("Language of the email", choices=[])
    deactivate_on = DateField("Deactivate the accounts on", [Optional()],
                              description="Optional. The accounts are deactivated at the start of this day.")
    message = TextAreaField("Personal message", [Length(max=2000)], render_kw={"rows": 3},
                            description="Optional. Shown in the email, under your name.")
    send_email = BooleanField("Send invitation email", default=True)


class AccountForm(FlaskForm):
    email = EmailField("Email", [DataRequired(), Length(max=320)], render_kw={"autocomplete": "off"})
    first_name = StringField("First name", [DataRequired(), Length(max=100)])
    last_name = StringField("Last name", [DataRequired(), Length(max=100)])
    password = PasswordField("Password", [DataRequired(), Length(min=8, max=500)],
                             description="At least 8 characters.", render_kw={"autocomplete": "new-password"})
    role = SelectField("Role", choices=[])
    groups = MultiCheckboxField("Groups", coerce=int, choices=[])
    language = SelectField("Language", choices=[])
    deactivate_on = DateField("Deactivate on", [Optional()])
    send_email = BooleanField("Send an email with the sign-in details", default=True)
    include_password = BooleanField("Include the password in that email", default=False,
                                     description="Otherwise the email has a sign-in link only; give the password another way.")


class InvitationFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField("Search", [Optional(), Length(max=200)])
    status = SelectField("Status", [Optional()], choices=[])


class ImportForm(FlaskForm):
    roster = TextAreaField(
        "Paste the rows",
        [Length(max=10 * 1024 * 1024, message="The paste is larger than 10 MB; upload a file instead.")],
        render_kw={"rows": 8, "autocomplete": "off", "spellcheck": "false", "wrap": "off",
                   "placeholder": "Smith, James, james.smith@example.com, France | North, 1, apozeiru, en, "
                                  "Professional Photographer"},
    )
    file = FileField("Or upload a file", [FileAllowed(["xlsx", "csv", "txt"], "Upload an .xlsx or .csv file.")],
                     description=".xlsx (the template's first sheet) or .csv, up to 10 MB and 50,000 rows.",
                     render_kw={"accept": ".xlsx,.csv,.txt"})
    mode = RadioField("Existing accounts (matched by email)", default="create", choices=choices([
        ("create", "Leave them as they are (skip)"),
        ("update", "Update them with the roster's values"),
        ("fill", "Fill in only the fields they have empty"),
    ]))
    strict = BooleanField("All or nothing: import no row if any row has an error")
    language = SelectField("Language", choices=[], description="For rows with an empty language.")
    role = SelectField("Role", choices=[], description="For rows with an empty role.")
    groups = MultiCheckboxField("Groups", coerce=int, choices=[], description="For rows with an empty groups column.")
    deactivate_on = DateField("Deactivate on", [Optional()], description="For rows with an empty deactivate_on.")
    draft = HiddenField()  # "Change the options": the previewed roster, used when no new one is given
    send_email = BooleanField("Send emails", default=True,
                              description="For rows with an empty send_email: an invitation, or the sign-in "
                                          "details when the row sets a password.")


class InviteLinkForm(FlaskForm):
    target = RadioField("People who open the link join", choices=[])
    # The group and session lists depend on who is sharing; the view checks the choice.
    group_id = SelectField("Group", choices=[], validate_choice=False)
    session_id = SelectField("Session", choices=[], validate_choice=False)
    role = SelectField("Role of the accounts it creates", choices=[],
                       description="People who already have an account keep their role.")
    max_uses = IntegerField("Maximum uses", [Optional(), NumberRange(min=1, max=100_000, message="Enter a number from 1 to 100,000.")],
                            description="Optional. Each person counts once; when they are used up, the link says it is full.",
                            render_kw={"min": 1, "max": 100_000, "inputmode": "numeric"})
    expires_on = DateField("Works until", [Optional()], description="Optional. The link works through the end of this day.")
    allowed_domain = StringField("Only for email addresses at", [Optional(), Length(max=255)],
                                 description="Optional, for example @acme.example.",
                                 render_kw={"placeholder": "@acme.example", "autocomplete": "off", "spellcheck": "false"})
    deactivate_on = DateField("Deactivate the accounts it creates on", [Optional()],
                              description="Optional. For temporary staff or an event's guests.")
    self_registration = BooleanField(
        "Self-registration: whoever joins is registered as accepted (no invitation to answer)",
        description="For sign-up at an event or a check-in desk.")
