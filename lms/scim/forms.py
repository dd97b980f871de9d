from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from lms.scim.tokens import MAX_NAME_LENGTH


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(message="Give the token a name."),
                                           Length(max=MAX_NAME_LENGTH)],
                       description="Who will use it, such as “Entra ID production” or “Okta”.")


class RevokeForm(FlaskForm):
    """CSRF only: the token is in the address."""
