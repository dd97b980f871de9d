from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import BooleanField, DateField, FieldList, HiddenField, RadioField, SelectField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from lms.enrollment.rosters.headers import FIELD_LABELS, FIELDS, IGNORE
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
                     description=".xlsx (the template, or any workbook: the first sheet holding a roster) or .csv, "
                                 "also as exported by another system (the preview shows how its columns are "
                                 "read); up to 10 MB and 50,000 rows.",
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
    generate_passwords = BooleanField(
        "Give everyone without a password a generated temporary password by email",
        description="For new accounts whose row leaves the password empty: instead of an invitation, the email "
                    "brings a password generated for them, which they replace with their own at the first "
                    "sign-in. A row with send_email 0 is still invited without an email. In any row, "
                    "*generate* as the password does the same.")

    def validate_generate_passwords(self, field):
        if field.data and not self.send_email.data:
            raise ValidationError("A generated password reaches people only by email: tick Send emails too, "
                                  "or untick this.")


class ColumnsForm(FlaskForm):
    """The preview's mapping step: the field each column of the file is read as, and the sheet."""

    columns = FieldList(SelectField(choices=[], validate_choice=True), min_entries=0)
    sheet = SelectField("Sheet", choices=[], validate_choice=True)


def columns_form(titles, fields, sheets, sheet, formdata=None):
    """A ColumnsForm for a preview: one drop-down per column (set to what the column is read as,
    or to what `formdata` posted), and the workbook's sheets."""
    if formdata is None:
        read_as = [(fields[index] if index < len(fields) else None) or IGNORE for index in range(len(titles))]
        form = ColumnsForm(formdata=None, data={"columns": read_as, "sheet": sheet or ""})
    else:
        form = ColumnsForm(formdata=formdata)
    while len(form.columns) < len(titles):
        form.columns.append_entry(IGNORE)
    choices = [(IGNORE, "Not imported")] + [(name, FIELD_LABELS[name]) for name in FIELDS]
    for entry, title in zip(form.columns, titles, strict=False):
        entry.choices, entry.label.text = choices, title
    form.sheet.choices = [(name, name) for name in sheets]
    form.sheet.validate_choice = bool(sheets)  # a CSV has no sheet to choose
    return form
