from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length


class GroupForm(FlaskForm):
    name = StringField("Group name", [DataRequired(), Length(max=120)])


class AddMemberForm(FlaskForm):
    user_id = IntegerField("User", [DataRequired()])
