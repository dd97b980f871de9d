from datetime import date

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField, ValidationError
from wtforms.validators import Length, Optional

from lms.audit.log import action_choices
from lms.clock import LATEST_DATE

EARLIEST_DATE = date(2000, 1, 1)  # before the platform; earlier ones overflow time zone arithmetic
DATE_FORMAT_MESSAGE = "Enter the date as YYYY-MM-DD, for example 2026-03-02."
ACTION_CHOICES = [SelectChoice("", "Any action")] + [
    SelectChoice(value, label, optgroup=group) for value, label, group in action_choices()]


def _clean(value):
    """Trimmed, without NUL characters (PostgreSQL refuses them in a query's text)."""
    return value.replace("\x00", "").strip() if isinstance(value, str) else value


class DayField(DateField):
    """A date typed or picked as YYYY-MM-DD, saying so when it is something else."""

    def process_formdata(self, valuelist):
        if valuelist and len(valuelist[0]) > 20:
            raise ValueError(DATE_FORMAT_MESSAGE)
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(DATE_FORMAT_MESSAGE) from None


def _within_platform_dates(form, field):
    if field.data is not None and not EARLIEST_DATE <= field.data <= LATEST_DATE:
        raise ValidationError(f"Choose a date between {EARLIEST_DATE:%Y-%m-%d} and {LATEST_DATE:%Y-%m-%d}.")


class AuditFilterForm(FlaskForm):
    """The audit log's filters (GET, so no CSRF token). A filter the form refuses is shown
    with its error and left out; the others still apply."""

    class Meta:
        csrf = False

    user = StringField("Person", [Optional(), Length(max=320)], filters=[_clean],
                       description="Whom the events are about: an email or a name (or how it starts), or an account id.")
    actor = StringField("Done by", [Optional(), Length(max=320)], filters=[_clean],
                        description="An email or a name (or how it starts), or an account id.")
    action = SelectField("Action", [Optional()], choices=ACTION_CHOICES,
                         invalid_choice_message="Choose an action from the list.")
    date_from = DayField("From", [Optional(), _within_platform_dates], description="A platform date, included.")
    date_to = DayField("To", [Optional(), _within_platform_dates], description="A platform date, included.")

    def validate_date_to(self, field):
        if field.data and self.date_from.data and not self.date_from.errors and field.data < self.date_from.data:
            raise ValidationError("This date is before the From date.")
