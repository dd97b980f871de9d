from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length


class GroupForm(FlaskForm):
    name = StringField("Group name", [DataRequired(), Length(max=120)])


class AddMemberForm(FlaskForm):
    user_id = IntegerField("User", [DataRequired()])


class TrainersForm(FlaskForm):
    open_to_trainers = BooleanField("Trainers may add this group to their sessions")


class AddEmailsForm(FlaskForm):
    emails = TextAreaField("Add emails", [DataRequired(message="Enter at least one email address.")],
                           description="New people are invited to the platform as learners, into this group and so "
                                       "into its ongoing and future sessions; people who have an account are added.",
                           render_kw={"rows": 3, "placeholder": "one@example.com, two@example.com"})
    send_email = BooleanField("Send the invitation emails", default=True)
