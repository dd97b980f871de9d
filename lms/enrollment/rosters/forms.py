from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import BooleanField, DateField, HiddenField, RadioField, SelectField, TextAreaField
from wtforms.validators import Length, Optional

from lms.forms import MultiCheckboxField, choices


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
