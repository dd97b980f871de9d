from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from lms.accounts.forms import ChoosePasswordForm, NamesForm


class LinkTermsForm(FlaskForm):
    """The terms a link keeps changeable after it is shared (its address and QR code stay)."""
    max_uses = IntegerField("Maximum uses", [Optional(), NumberRange(min=1, max=100_000, message="Enter a number from 1 to 100,000.")],
                            description="Optional. Each person counts once; when they are used up, the link says it is full.",
                            render_kw={"min": 1, "max": 100_000, "inputmode": "numeric"})
    expires_on = DateField("Works until", [Optional()], description="Optional. The link works through the end of this day.")
    allowed_domain = StringField("Only for email addresses at", [Optional(), Length(max=255)],
                                 description="Optional, for example @acme.example.",
                                 render_kw={"placeholder": "@acme.example", "autocomplete": "off", "spellcheck": "false"})


class InviteLinkForm(LinkTermsForm):
    target = RadioField("People who open the link join", choices=[])
    # The group and session lists depend on who is sharing; the view checks the choice.
    group_id = SelectField("Group", choices=[], validate_choice=False)
    session_id = SelectField("Session", choices=[], validate_choice=False)
    role = SelectField("Role of the accounts it creates", choices=[],
                       description="People who already have an account keep their role.")
    deactivate_on = DateField("Deactivate the accounts it creates on", [Optional()],
                              description="Optional. For temporary staff or an event's guests.")
    self_registration = BooleanField(
        "Self-registration: whoever joins is registered as accepted (no invitation to answer)",
        description="For sign-up at an event or a check-in desk.")


class SignInForm(FlaskForm):
    email = EmailField(_l("Email"), [DataRequired(), Length(max=320)], render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), [DataRequired(), Length(max=500)],
                             render_kw={"autocomplete": "current-password"})


class NewcomerForm(NamesForm):
    """No password here: whoever types an address may not be its owner. The owner chooses it
    when they confirm (ConfirmForm), from the email sent to that address."""
    email = EmailField(_l("Email"), [DataRequired(), Length(max=320)], render_kw={"autocomplete": "email"})


class ConfirmForm(ChoosePasswordForm):
    pass
