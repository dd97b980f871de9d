from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from lms.forms import MultiCheckboxField


class ProgramForm(FlaskForm):
    title = StringField("Title", [DataRequired(), Length(max=200)])
    description = TextAreaField("Description", [Length(max=5000)], render_kw={"rows": 3})


class SessionForm(FlaskForm):
    name = StringField("Session name", [DataRequired(), Length(max=200)])
    starts_at = DateTimeLocalField("Starts", [DataRequired()], format="%Y-%m-%dT%H:%M")
    ends_at = DateTimeLocalField("Ends", [Optional()], format="%Y-%m-%dT%H:%M")
    trainers = MultiCheckboxField("Trainers", coerce=int, choices=[])


class AddGroupForm(FlaskForm):
    group_id = SelectField("Group", coerce=int, choices=[])


class AddLearnerForm(FlaskForm):
    user_id = IntegerField("Learner", [DataRequired()])
    # The address the trainer typed, for someone not yet in their sessions (lms.programs.access).
    email = StringField("Email", [Optional(), Length(max=320)])


class AddEmailsForm(FlaskForm):
    emails = TextAreaField("Email addresses", [DataRequired(message="Enter at least one email address.")],
                           description="New people are invited to the platform first; everyone is invited to this session.",
                           render_kw={"rows": 3})
    send_email = BooleanField("Send the invitation emails", default=True)
