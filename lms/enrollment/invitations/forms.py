from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, EmailField, PasswordField, RadioField, SelectField, StringField,
                     TextAreaField)
from wtforms.validators import DataRequired, Length, Optional

from lms.forms import MultiCheckboxField, choices


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
    password_choice = RadioField(
        "Password", [Optional()], default="generate",
        choices=choices([("generate", "Generate a temporary password and email it"), ("choose", "I choose the password")]),
    )
    password = PasswordField("The password you choose", [Optional(), Length(min=8, max=500)],
                             description="At least 8 characters.", render_kw={"autocomplete": "new-password"})
    must_change_password = BooleanField("Ask for a new password at the first sign-in", default=True,
                                        description="Always so for a generated password.")
    role = SelectField("Role", choices=[])
    groups = MultiCheckboxField("Groups", coerce=int, choices=[])
    language = SelectField("Language", choices=[])
    deactivate_on = DateField("Deactivate on", [Optional()])
    send_email = BooleanField("Send an email with the sign-in details", default=True)
    include_password = BooleanField("Include the password in that email", default=False,
                                     description="Otherwise the email has a sign-in link only; give the password another way.")

    def generates_password(self) -> bool:
        """Generate one unless the admin chose their own; a post without the choice but with a
        password (an older page, a script) uses that password."""
        if self.password_choice.raw_data:
            return self.password_choice.data == "generate"
        return not self.password.data


class InvitationFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField("Search", [Optional(), Length(max=200)])
    status = SelectField("Status", [Optional()], choices=[])
