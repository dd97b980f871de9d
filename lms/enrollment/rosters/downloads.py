"""Files the Add users page hands out: the XLSX roster template, the rejected rows of an
import as CSV (to fix and import again), and the groups' ids for rosters.

Every cell a person typed is neutralised against spreadsheet formula injection.
"""
import csv
import io
import re

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.datavalidation import DataValidation

from lms.enrollment.rosters.export import neutralise
from lms.enrollment.rosters.parser import COLUMNS, quote_row

TEMPLATE_ROWS = 1000  # rows the template's validation lists cover
# A row whose first cell starts with # is not imported: the examples show the format but
# never create example.com accounts if left in.
EXAMPLES = [
    ["# Smith", "James", "james.smith@example.com", "France | North", 1, "apozeiru", "en",
     "Professional Photographer", "", "learner", None],
    ["# Martin", "Léa", "lea.martin@example.com", "France", 0, "", "fr", "", "", "manager", None],
]
INSTRUCTIONS = [
    ("last_name", "no", "Family name."),
    ("first_name", "no", "Given name."),
    ("email", "yes", "The key: an existing account with this email is skipped, updated or filled in, "
                     "as the import's mode says. Each email once per roster."),
    ("labels", "no", "Several values separated by |, for example: France | North."),
    ("send_email", "no", "1 to email the person (the default), 0 not to."),
    ("password", "no", "Empty: the email invites the person to choose a password (or, when the import's option "
                       "“Give everyone without a password a generated temporary password by email” is ticked, "
                       "brings them one). *generate*: the email brings a temporary password generated for them, "
                       "which they replace with their own at the first sign-in (send_email must not be 0). "
                       "Otherwise at least 8 characters."),
    ("language", "no", "The language of the emails and pages: {languages}. Empty: the platform's default."),
    ("additional_info", "no", "Free text, for example a job title."),
    ("groups", "no", "Group ids or exact group names separated by |. Joining a group enrols the person "
                     "in the group's sessions. The Add people page lists the ids."),
    ("role", "no", "learner (the default; trainee also works), manager or admin."),
    ("deactivate_on", "no", "A date after today (a date cell, or text as YYYY-MM-DD): the account is "
                            "deactivated at the start of that day."),
]
# Columns the template leaves out, which a roster may add (after the others, with their header).
OPTIONAL_INSTRUCTIONS = [
    ("external_id", "no", "The person's id in the HR system (unique): update and fill match people by it "
                          "before their email."),
    ("must_change_password", "no", "1 to ask the person for a new password at their next sign-in, 0 not to "
                                   "(also yes/no, true/false). Moodle's forcepasswordchange means the same. "
                                   "A *generate* password always asks."),
]


def roster_template(languages) -> bytes:
    """The XLSX template: the roster sheet first (the import reads the first sheet), with a
    header, two example rows and drop-down lists, then an instructions sheet."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Accounts"
    sheet.append(list(COLUMNS))
    for example in EXAMPLES:
        sheet.append(example)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCDEFGHIJK", (16, 16, 30, 20, 11, 14, 10, 28, 24, 10, 14), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    last = TEMPLATE_ROWS + 1
    for column, values in (("language", languages), ("role", ["learner", "manager", "admin"]), ("send_email", ["1", "0"])):
        letter = "ABCDEFGHIJK"[COLUMNS.index(column)]
        validation = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True,
                                    showErrorMessage=True, errorTitle=f"Not a valid {column}",
                                    error=f"Choose one of: {', '.join(values)}.")
        validation.add(f"{letter}2:{letter}{last}")
        sheet.add_data_validation(validation)
    deactivate = "ABCDEFGHIJK"[COLUMNS.index("deactivate_on")]
    dates = DataValidation(type="date", operator="greaterThan", formula1="DATE(2000,1,1)", allow_blank=True,
                           showErrorMessage=True, errorTitle="Not a date", error="Enter a date, for example 2027-06-30.")
    dates.add(f"{deactivate}2:{deactivate}{last}")
    sheet.add_data_validation(dates)
    for row in range(2, last + 1):
        sheet[f"{deactivate}{row}"].number_format = "yyyy-mm-dd"

    notes = workbook.create_sheet("Instructions")
    notes.append(["How to fill in the Accounts sheet"])
    notes["A1"].font = Font(bold=True, size=14)
    notes.append(["One row per account. The two example rows start with # so they are not imported: type over "
                  "them or delete them. Keep the header row; "
                  "columns may be moved or left out (email is required). Rows whose first cell starts with # "
                  "are ignored. Up to 50,000 rows and 10 MB per file."])
    notes.append([])
    notes.append(["column", "required", "what to write"])
    for cell in notes[4]:
        cell.font = Font(bold=True)
    for name, required, text in INSTRUCTIONS:
        notes.append([name, required, text.format(languages=", ".join(languages))])
    notes.append([])
    notes.append(["Other columns a roster may have (add them after the others, with this header):"])
    for name, required, text in OPTIONAL_INSTRUCTIONS:
        notes.append([name, required, text])
    notes.column_dimensions["A"].width = 16
    notes.column_dimensions["B"].width = 10
    notes.column_dimensions["C"].width = 110
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def rejected_rows_csv(job) -> str:
    """The rows an import rejected, under a header, each after a comment line saying why:
    fixed, the file imports again as it is (comment lines are ignored)."""
    errors_by_line, cells_by_line = {}, {}
    for error in job.errors or []:
        errors_by_line.setdefault(error["line"], []).append(error)
        if error.get("cells"):
            cells_by_line[error["line"]] = error["cells"]
    lines = [f"# Rows rejected by import {job.id}" + (f" of {job.filename}" if job.filename else "")
             + ". Fix them and import this file again; lines starting with # are ignored."]
    if "password" in job.options.get("columns", []):
        lines.append("# Passwords are not kept (a *generate* is): type them again, or leave them empty to send an "
                     "invitation.")
    # The file's own header (read again the same way), or the fields its columns were read as.
    header = job.options.get("header") or [name or f"not imported {index + 1}" for index, name
                                           in enumerate(job.options.get("columns") or COLUMNS)]
    lines.append(quote_row(header))
    for line, errors in errors_by_line.items():
        for error in errors:
            lines.append(_comment(f"# line {line}" + (f", {error['column']}" if error["column"] else "")
                                  + f": {error['message']}"))
        if line in cells_by_line:
            lines.append(quote_row(cells_by_line[line]))
    return "\r\n".join(lines) + "\r\n"


def _comment(text):
    """A comment line that a spreadsheet, splitting it at its commas (and reading quoted fields),
    still shows as text: no field of it starts with a formula, even after spaces or quotes."""
    return re.sub(r"([,;\t][\s\"]*)(?=[=+\-@])", r"\1'", " ".join(text.split()))


def group_ids_csv(groups) -> str:
    """`groups`: (group, member_count, session_count) rows, as groups_with_counts gives them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "name", "members", "sessions"])
    writer.writerows([group.public_id, neutralise(group.name), members, sessions]
                     for group, members, sessions in groups)
    return out.getvalue()
