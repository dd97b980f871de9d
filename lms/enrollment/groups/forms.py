from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, Length


class GroupForm(FlaskForm):
    name = StringField("Group name", [DataRequired(), Length(max=120)])


class AddMemberForm(FlaskForm):
    user_id = IntegerField("User", [DataRequired()])


class TrainersForm(FlaskForm):
    open_to_trainers = BooleanField("Trainers may add this group to their sessions")
