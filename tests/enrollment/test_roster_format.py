"""The roster format (DESIGN §4): pasted text, CSV and XLSX into rows and line-numbered errors.

lms.enrollment.rosters.parser is pure: no app, no database. Each test is named after the rule it checks
and asserts what the user sees: the parsed values, and the line and column of each error.
"""
import io
import re
import time
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from lms.enrollment.rosters.headers import header_key
from lms.enrollment.rosters.parser import (
    COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    Roster,
    RosterError,
    RosterTooLarge,
    RosterUnreadable,
    load_roster,
    parse_text,
    parse_xlsx,
    quote_row,
)

LANGUAGES = ["en", "fr", "nl"]
EXAMPLE = ("Smith, James, james.smith@example.com, France | North, 1, apozeiru, en, "
           "Professional Photographer")


def parse(text, **kwargs):
    return parse_text(text, languages=LANGUAGES, **kwargs)


def load(data, **kwargs):
    return load_roster(data, languages=LANGUAGES, **kwargs)


def xlsx(*rows):
    """An XLSX workbook's bytes whose first sheet holds these rows (an empty tuple: an empty row)."""
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def errors_of(roster: Roster):
    """(line, column) of every error, in line order."""
    return [(error.line, error.column) for error in roster.all_errors()]


def only_row(roster: Roster):
    assert len(roster.rows) == 1, roster.rows
    return roster.rows[0]


def user_lines(text):
    """How many lines the user sees: lines end with \\r\\n, \\n or \\r (as in a CSV file or a
    text area), and a final line terminator does not start a new line."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines[-1] == "":
        lines.pop()
    return len(lines)


# --- Column order without a header -----------------------------------------------------------

def test_without_header_columns_are_in_the_documented_order():
    row = only_row(parse(EXAMPLE))

    assert row.line == 1
    assert row.errors == []
    assert row.values == {
        "last_name": "Smith",
        "first_name": "James",
        "email": "james.smith@example.com",
        "labels": ["France", "North"],
        "send_email": True,
        "password": "apozeiru",
        "language": "en",
        "additional_info": "Professional Photographer",
    }


def test_without_header_all_eleven_columns_are_read_in_order():
    row = only_row(parse("Smith,James,j@example.com,A,0,longenough,fr,Info,G-ABCDEF | Team,manager,2027-01-31"))

    assert row.errors == []
    assert row.values == {
        "last_name": "Smith", "first_name": "James", "email": "j@example.com", "labels": ["A"],
        "send_email": False, "password": "longenough", "language": "fr", "additional_info": "Info",
        "groups": ["G-ABCDEF", "Team"], "role": "manager", "deactivate_on": date(2027, 1, 31),
    }


def test_without_header_the_roster_columns_are_the_documented_ones():
    roster = parse(EXAMPLE)

    assert roster.columns == COLUMNS
    assert roster.errors == []


def test_without_header_empty_fields_are_left_out_of_the_values():
    row = only_row(parse(",,j@example.com,,,,,"))

    assert row.values == {"email": "j@example.com"}
    assert row.errors == []


# --- Header row ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["First name", "first-name", "FIRST_NAME", " first  name ", "First-Name"])
def test_header_names_ignore_case_spaces_dashes_and_underscores(name):
    roster = parse(f"email,{name}\nj@example.com,James\n")

    assert roster.errors == []
    row = only_row(roster)
    assert row.line == 2
    assert row.values == {"email": "j@example.com", "first_name": "James"}


@pytest.mark.parametrize("name, key", [("First name", "firstname"), ("first-name", "firstname"),
                                       ("FIRST_NAME", "firstname"), ("Send E-mail", "sendemail"),
                                       ("  Deactivate On ", "deactivateon"), ("Prénom", "prenom"),
                                       ("Email Address [Required]", "emailaddress"), ("E-mail (work)", "email")])
def test_header_key_makes_header_spellings_alike(name, key):
    assert header_key(name) == key


def test_header_columns_may_come_in_any_order():
    roster = parse("Role;email;Last Name\ntrainee;J.Smith@Example.com;Smith\n")

    assert roster.errors == []
    assert roster.columns == ("role", "email", "last_name")
    row = only_row(roster)
    assert row.values == {"role": "learner", "email": "j.smith@example.com", "last_name": "Smith"}
    assert row.errors == []


def test_header_with_only_some_columns_leaves_the_others_out():
    row = only_row(parse("email,language\nj@example.com,NL\n"))

    assert row.values == {"email": "j@example.com", "language": "nl"}


def test_header_unknown_columns_are_ignored_and_named_in_a_warning():
    roster = parse("last_name,email,Phone,Department\nSmith,j@example.com,0123,Sales\n")

    assert roster.errors == []
    (warning,) = roster.warnings
    assert "“Phone”, “Department”" in warning and "not imported" in warning
    assert only_row(roster).values == {"last_name": "Smith", "email": "j@example.com"}


def test_header_that_names_nothing_known_stops_every_row():
    roster = parse("Name of person;Mail address;Dept\nSmith;j@example.com;Sales\nDoe;d@example.com;IT\n")

    assert [(error.line, error.column) for error in roster.errors] == [(1, None)]
    assert "looks like a header" in roster.errors[0].message
    assert "Name of person, Mail address, Dept" in roster.errors[0].message
    for row in roster.rows:
        assert row.errors, f"line {row.line} would be imported under an invalid header"
        assert "not imported" in row.errors[0].message.lower()


def test_header_without_email_column_is_an_error():
    roster = parse("last_name,first_name\nSmith,James\n")

    assert [(error.line, error.column) for error in roster.errors] == [(1, "email")]
    assert roster.rows[0].errors  # and the row is not imported


def test_header_on_a_later_line_after_comments_keeps_its_line_number():
    roster = parse("# exported from HR\n\nemail,Phone,First\nj@example.com,1,2,3\n")

    assert [(error.line, error.column) for error in roster.errors] == []
    assert roster.layout.header_line == 3
    assert roster.rows[0].line == 4 and roster.rows[0].errors[0].message.startswith("Too many fields")


def test_header_column_given_twice_is_an_error():
    roster = parse("email,first-name,FIRST_NAME\nj@example.com,James,Jim\n")

    assert [(error.line, error.column) for error in roster.errors] == [(1, None)]
    assert "first_name (“first-name”, “FIRST_NAME”)" in roster.errors[0].message


def test_a_first_line_with_an_email_is_data_not_a_header():
    # "Email" is a column name, but the line holds an address: it is a person.
    row = only_row(parse("Email,Role,role@example.com\n"))

    assert row.line == 1
    assert row.values == {"last_name": "Email", "first_name": "Role", "email": "role@example.com"}


# --- Delimiters and quoting ------------------------------------------------------------------

def test_delimiter_comma():
    row = only_row(parse("Smith,James,j@example.com,A|B\n"))

    assert row.values == {"last_name": "Smith", "first_name": "James", "email": "j@example.com",
                          "labels": ["A", "B"]}


def test_delimiter_tab_from_a_spreadsheet_paste():
    # A spreadsheet copy: tabs, and commas are ordinary characters.
    row = only_row(parse("Smith, Jr\tJames\tj@example.com\tFrance | North\t1\n"))

    assert row.errors == []
    assert row.values == {"last_name": "Smith, Jr", "first_name": "James", "email": "j@example.com",
                          "labels": ["France", "North"], "send_email": True}


def test_delimiter_semicolon():
    row = only_row(parse("Smith;James;j@example.com;;0;;;Sales, Paris\n"))

    assert row.errors == []
    assert row.values == {"last_name": "Smith", "first_name": "James", "email": "j@example.com",
                          "send_email": False, "additional_info": "Sales, Paris"}


def test_delimiter_semicolon_with_a_header():
    row = only_row(parse("email;last_name;additional_info\nj@example.com;Smith;a, b, c\n"))

    assert row.values == {"email": "j@example.com", "last_name": "Smith", "additional_info": "a, b, c"}


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_quoted_fields_may_hold_the_delimiter(delimiter):
    text = delimiter.join(['"Smith{d} Jr"', '"Jim{d}Jo"', "j@example.com", '"A{d} B | C"']).format(d=delimiter)
    row = only_row(parse(text))

    assert row.errors == []
    assert row.values["last_name"] == f"Smith{delimiter} Jr"
    assert row.values["first_name"] == f"Jim{delimiter}Jo"
    assert row.values["labels"][1] == "C"


def test_quoted_field_may_hold_a_doubled_quote():
    row = only_row(parse('"Smith ""Smithy""",James,j@example.com\n'))

    assert row.values["last_name"] == 'Smith "Smithy"'


def test_quoted_field_after_a_space_is_still_quoted():
    row = only_row(parse('Smith, "James, Jr", j@example.com\n'))

    assert row.values == {"last_name": "Smith", "first_name": "James, Jr", "email": "j@example.com"}


def test_quoted_line_break_is_kept_and_the_row_keeps_its_first_line():
    text = ('Smith,James,j@example.com,,1,,en,"Line one\nLine two"\n'
            "Doe,Jane,not-an-email\n"
            "Roe,Rita,r@example.com,,maybe\n")
    roster = parse(text)

    assert [row.line for row in roster.rows] == [1, 3, 4]
    assert roster.rows[0].values["additional_info"] == "Line one\nLine two"
    assert roster.rows[0].errors == []
    assert errors_of(roster) == [(3, "email"), (4, "send_email")]


def test_quoted_line_break_spanning_blank_and_hash_lines_is_kept():
    # Inside quotes, a blank line or a line starting with # is part of the field.
    text = 'Smith,James,j@example.com,,,,,"one\n\n# two"\nDoe,Jane,bad\n'
    roster = parse(text)

    assert roster.rows[0].values["additional_info"] == "one\n\n# two"
    assert errors_of(roster) == [(4, "email")]


def test_quoted_line_break_with_crlf_is_kept_as_a_line_break():
    text = 'Smith,James,j@example.com,,1,,en,"Line one\r\nLine two"\r\nDoe,Jane,bad\r\n'
    roster = parse(text)

    assert roster.rows[0].values["additional_info"] == "Line one\nLine two"
    assert errors_of(roster) == [(3, "email")]


# --- Trimming, blank and comment lines, BOM, CRLF --------------------------------------------

def test_whitespace_around_fields_is_trimmed():
    # (Spaces: a tab in the first line would make it a tab-separated paste.)
    row = only_row(parse("  Smith  ,   James ,  j@example.com  ,  , 1 ,  longenough  , en \n"))

    assert row.errors == []
    assert row.values == {"last_name": "Smith", "first_name": "James", "email": "j@example.com",
                          "send_email": True, "password": "longenough", "language": "en"}


def test_whitespace_around_pipe_values_is_trimmed_and_empty_values_dropped():
    row = only_row(parse("Smith,James,j@example.com,  France |  | North |   |,,,,,| Team A ||\n"))

    assert row.values["labels"] == ["France", "North"]
    assert row.values["groups"] == ["Team A"]


def test_only_empty_pipe_values_give_no_labels():
    row = only_row(parse("Smith,James,j@example.com, | | \n"))

    assert "labels" not in row.values
    assert row.errors == []


def test_blank_and_comment_lines_are_ignored_but_counted():
    text = ("# Roster for March\n"
            "\n"
            "Smith,James,j@example.com\n"
            "   \n"
            "  # another comment\n"
            "Doe,Jane,not-an-email\n"
            "\n")
    roster = parse(text)

    assert [row.line for row in roster.rows] == [3, 6]
    assert errors_of(roster) == [(6, "email")]


def test_utf8_bom_is_accepted():
    roster = parse("\ufeffemail,last_name\nj@example.com,Smith\n")

    assert roster.errors == []
    assert only_row(roster).values == {"email": "j@example.com", "last_name": "Smith"}


def test_utf8_bom_is_accepted_from_bytes():
    roster = load("\ufeffemail,last_name\nj@example.com,Müller\n".encode("utf-8"))

    assert roster.errors == []
    assert only_row(roster).values == {"email": "j@example.com", "last_name": "Müller"}


def test_crlf_line_ends_are_accepted():
    roster = parse("email,last_name\r\nj@example.com,Smith\r\n\r\nbad,Doe\r\n")

    assert roster.errors == []
    assert roster.rows[0].values == {"email": "j@example.com", "last_name": "Smith"}
    assert errors_of(roster) == [(4, "email")]


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\u2028"], ids=["vertical-tab", "form-feed", "U+2028"])
def test_only_cr_and_lf_end_a_line(separator):
    # A vertical tab (Word's manual line break), a form feed or a Unicode line separator
    # inside a field does not end the line the user wrote: the row stays one row on line 1
    # and the next row is on line 2.
    roster = parse(f"Smith,James{separator}Jr,j@example.com\nDoe,Jane,bad\n")

    assert [row.line for row in roster.rows] == [1, 2]
    assert roster.rows[0].values["email"] == "j@example.com"
    assert errors_of(roster) == [(2, "email")]


# --- Emails ----------------------------------------------------------------------------------

def test_email_is_lower_cased():
    row = only_row(parse("Smith,James,  James.Smith@Example.COM \n"))

    assert row.values["email"] == "james.smith@example.com"
    assert row.email == "james.smith@example.com"


@pytest.mark.parametrize("email", ["james.smith", "james@", "@example.com", "james smith@example.com",
                                   "james@@example.com", "james@example..com"])
def test_invalid_email_is_an_error_on_its_line(email):
    roster = parse(f"Smith,James,ok@example.com\nDoe,Jane,{email}\n")

    assert errors_of(roster) == [(2, "email")]
    assert "email" not in roster.rows[1].values


def test_missing_email_is_an_error():
    roster = parse("Smith,James\nDoe,Jane,,A\n")

    assert errors_of(roster) == [(1, "email"), (2, "email")]


def test_same_email_twice_is_an_error_on_the_later_line_naming_the_earlier():
    roster = parse("Smith,James,j@example.com\n"
                   "# comment\n"
                   "Other,Person,o@example.com\n"
                   "Smith,Jim,J@EXAMPLE.com\n")

    assert errors_of(roster) == [(4, "email")]
    error = roster.all_errors()[0]
    assert "line 1" in error.message
    assert roster.rows[0].errors == []


def test_same_email_three_times_names_the_first_line_each_time():
    roster = parse("\n,,j@example.com\n,,j@example.com\n,,j@example.com\n")

    assert errors_of(roster) == [(3, "email"), (4, "email")]
    assert all("line 2" in error.message for error in roster.all_errors())


# --- send_email ------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("1", True), ("0", False), ("true", True), ("false", False), ("yes", True), ("no", False),
    ("TRUE", True), ("False", False), ("Yes", True), ("NO", False), (" yes ", True),
])
def test_send_email_accepts_1_0_true_false_yes_no_in_any_case(value, expected):
    row = only_row(parse(f"email,send_email\nj@example.com,{value}\n"))

    assert row.errors == []
    assert row.values["send_email"] is expected


def test_send_email_left_empty_is_not_set():
    row = only_row(parse("email,send_email\nj@example.com,\n"))

    assert "send_email" not in row.values


@pytest.mark.parametrize("value", ["2", "maybe", "peut-être", "-1"])
def test_send_email_invalid_value_is_an_error(value):
    roster = parse(f"email,send_email\nj@example.com,1\nk@example.com,{value}\n")

    assert errors_of(roster) == [(3, "send_email")]


# --- password --------------------------------------------------------------------------------

def test_password_shorter_than_8_characters_is_an_error():
    roster = parse("email,password\nj@example.com,1234567\nk@example.com,12345678\n")

    assert errors_of(roster) == [(2, "password")]
    assert "password" not in roster.rows[0].values
    assert roster.rows[1].values["password"] == "12345678"


def test_password_left_empty_is_not_an_error():
    row = only_row(parse("email,password\nj@example.com,\n"))

    assert row.errors == []
    assert "password" not in row.values


# --- language --------------------------------------------------------------------------------

def test_language_among_the_supported_ones_is_accepted():
    roster = parse("email,language\na@example.com,en\nb@example.com,FR\nc@example.com, nl \n")

    assert [row.values["language"] for row in roster.rows] == ["en", "fr", "nl"]
    assert roster.all_errors() == []


@pytest.mark.parametrize("language", ["de", "english", "de-BE", "xx", "en-", "en-GBR-x"])
def test_unknown_language_is_an_error(language):
    roster = parse(f"email,language\na@example.com,en\nb@example.com,{language}\n")

    assert errors_of(roster) == [(3, "language")]


def test_supported_languages_are_those_passed_in():
    roster = parse_text("email,language\na@example.com,de\nb@example.com,en\n", languages=["de"])

    assert errors_of(roster) == [(3, "language")]
    assert roster.rows[0].values["language"] == "de"


# --- role ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, role", [("admin", "admin"), ("manager", "manager"), ("learner", "learner"),
                                         ("trainee", "learner"), ("Trainee", "learner"), ("ADMIN", "admin")])
def test_role_admin_manager_learner_and_trainee_means_learner(value, role):
    row = only_row(parse(f"email,role\nj@example.com,{value}\n"))

    assert row.errors == []
    assert row.values["role"] == role


@pytest.mark.parametrize("value", ["owner", "superuser", "guest"])
def test_unknown_role_is_an_error(value):
    roster = parse(f"email,role\na@example.com,admin\nb@example.com,{value}\n")

    assert errors_of(roster) == [(3, "role")]


# --- deactivate_on ---------------------------------------------------------------------------

def test_deactivate_on_is_a_yyyy_mm_dd_date():
    row = only_row(parse("email,deactivate_on\nj@example.com,2027-01-31\n"))

    assert row.errors == []
    assert row.values["deactivate_on"] == date(2027, 1, 31)


@pytest.mark.parametrize("value", ["31/02/2027", "01/31/2027", "2027-02-30", "2027-1-31", "tomorrow", "2027-13-01"])
def test_bad_deactivate_on_date_is_an_error(value):
    roster = parse(f"email,deactivate_on\na@example.com,2027-01-31\nb@example.com,{value}\n")

    assert errors_of(roster) == [(3, "deactivate_on")]
    assert "YYYY-MM-DD" in roster.all_errors()[0].message


# --- Too many fields -------------------------------------------------------------------------

def test_too_many_fields_is_an_error_without_a_column():
    text = "Smith,James,a@example.com,,,,,,,,,extra\nDoe,Jane,b@example.com\n"
    roster = parse(text)

    assert errors_of(roster) == [(1, None)]
    assert "too many fields" in roster.all_errors()[0].message.lower()


def test_too_many_fields_with_a_header_counts_the_header_columns():
    roster = parse("email,last_name\na@example.com,Smith,extra\nb@example.com,Doe\n")

    assert errors_of(roster) == [(2, None)]


def test_trailing_empty_fields_are_not_too_many():
    row = only_row(parse("email,last_name\na@example.com,Smith,,, \n"))

    assert row.errors == []


def test_several_errors_on_one_line_each_name_their_column():
    roster = parse("Smith,James,not-an-email,,maybe,short,de,,,boss,soon\n")

    assert errors_of(roster) == [(1, "email"), (1, "send_email"), (1, "password"), (1, "language"),
                                 (1, "role"), (1, "deactivate_on")]


# --- XLSX ------------------------------------------------------------------------------------

def test_xlsx_with_a_header_row_reads_typed_cells():
    data = xlsx(
        ["Email", "First name", "send-email", "Deactivate on", "password", "additional_info"],
        ["J.Smith@Example.com", "James", 1, datetime(2027, 1, 31), 12345678, 42],
        ["k@example.com", 7, 0, "2027-02-01"],
        ["l@example.com", "Lea", True],
        ["m@example.com", "Max", False],
    )
    roster = parse_xlsx(data, languages=LANGUAGES)

    assert roster.all_errors() == []
    assert [row.values for row in roster.rows] == [
        {"email": "j.smith@example.com", "first_name": "James", "send_email": True,
         "deactivate_on": date(2027, 1, 31), "password": "12345678", "additional_info": "42"},
        {"email": "k@example.com", "first_name": "7", "send_email": False, "deactivate_on": date(2027, 2, 1)},
        {"email": "l@example.com", "first_name": "Lea", "send_email": True},
        {"email": "m@example.com", "first_name": "Max", "send_email": False},
    ]


def test_xlsx_date_cell_for_deactivate_on():
    row = only_row(parse_xlsx(xlsx(["email", "deactivate_on"], ["j@example.com", datetime(2027, 3, 4)]),
                              languages=LANGUAGES))

    assert row.values["deactivate_on"] == date(2027, 3, 4)


def test_text_day_first_date_is_accepted_in_xlsx_and_csv():
    row = only_row(parse_xlsx(xlsx(["email", "deactivate_on"], ["j@example.com", "31/01/2027"]),
                              languages=LANGUAGES))
    assert row.errors == []
    assert row.values["deactivate_on"] == date(2027, 1, 31)

    row = only_row(parse("email,deactivate_on\nj@example.com,31/01/2027\n"))
    assert row.values["deactivate_on"] == date(2027, 1, 31)


def test_xlsx_bad_date_is_an_error_on_its_row():
    roster = parse_xlsx(xlsx(["email", "deactivate_on"], ["a@example.com", "31/02/2027"],
                             ["b@example.com", "soon"]), languages=LANGUAGES)

    assert errors_of(roster) == [(2, "deactivate_on"), (3, "deactivate_on")]


def test_xlsx_send_email_number_and_boolean_cells():
    roster = parse_xlsx(xlsx(["email", "send_email"], ["a@example.com", 1], ["b@example.com", 0],
                             ["c@example.com", True], ["d@example.com", False], ["e@example.com", 2]),
                        languages=LANGUAGES)

    assert [row.values.get("send_email") for row in roster.rows] == [True, False, True, False, None]
    assert errors_of(roster) == [(6, "send_email")]


def test_xlsx_integer_cell_in_a_text_column_is_read_as_text():
    row = only_row(parse_xlsx(xlsx(["last_name", "email", "additional_info"], [1234, "j@example.com", 5.0]),
                              languages=LANGUAGES))

    assert row.values == {"last_name": "1234", "email": "j@example.com", "additional_info": "5"}


def test_xlsx_line_numbers_are_sheet_row_numbers():
    data = xlsx(
        ["email", "role"],
        ["a@example.com", "learner"],
        [],
        ["b@example.com", "boss"],
        ["# not this one", "boss"],
        ["not-an-email"],
    )
    roster = parse_xlsx(data, languages=LANGUAGES)

    assert [row.line for row in roster.rows] == [2, 4, 6]
    assert errors_of(roster) == [(4, "role"), (6, "email")]


def test_xlsx_without_header_uses_the_column_order():
    roster = parse_xlsx(xlsx(["Smith", "James", "j@example.com", "France | North", 1, "apozeiru", "en"]),
                        languages=LANGUAGES)

    row = only_row(roster)
    assert row.line == 1
    assert row.values == {"last_name": "Smith", "first_name": "James", "email": "j@example.com",
                          "labels": ["France", "North"], "send_email": True, "password": "apozeiru",
                          "language": "en"}


def test_xlsx_unknown_header_column_is_ignored_and_named():
    roster = parse_xlsx(xlsx(["email", "Phone number"], ["j@example.com", 123]), languages=LANGUAGES)

    assert roster.errors == []
    assert "“Phone number”" in roster.warnings[0]
    assert only_row(roster).values == {"email": "j@example.com"}


def test_xlsx_is_loaded_by_content_whatever_its_name():
    data = xlsx(["email", "last_name"], ["j@example.com", "Smith"])

    roster = load(data, filename="roster.csv")
    assert only_row(roster).values == {"email": "j@example.com", "last_name": "Smith"}
    assert only_row(load(data, kind="xlsx")).line == 2


# --- load_roster: what is refused ------------------------------------------------------------

def test_load_refuses_a_file_over_the_size_limit_naming_it():
    with pytest.raises(RosterUnreadable) as refused:
        load(b"a@example.com\n" * (MAX_FILE_BYTES // 14 + 1))

    assert f"{MAX_FILE_BYTES // (1024 * 1024)} MB" in str(refused.value)


def test_load_accepts_a_file_at_the_size_limit():
    line = b"a@example.com\n"
    data = (b"#" * (MAX_FILE_BYTES - len(line) - 1)) + b"\n" + line  # one comment line, one row
    assert len(data) == MAX_FILE_BYTES

    assert load(data).total_rows == 1


@pytest.mark.parametrize("data", [
    b"\x00\x01\x02\x03binary",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "email\nj@example.com\n".encode("utf-16-le"),  # UTF-16 without its byte order mark
], ids=["nul", "png", "utf-16 without BOM"])
def test_load_refuses_a_binary_file(data):
    with pytest.raises(RosterUnreadable) as refused:
        load(data, filename="photo.png")

    assert "photo.png" in str(refused.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_load_reads_excel_unicode_text_utf16_with_its_byte_order_mark(encoding):
    data = ("\ufeff" if encoding == "utf-16-be" else "") + "last_name\temail\nÖzil\tj@example.com\n"

    roster = load(data.encode(encoding))

    assert [row.values for row in roster.rows] == [{"last_name": "Özil", "email": "j@example.com"}]


def test_a_quoted_formula_is_read_without_its_apostrophe_and_quote_row_writes_it_back_so():
    cells = ["=SUM(A1)", "'=kept", "+33 6 12", "O'Brien", "j@example.com", "-", "'plain-password"]
    text = "last_name,first_name,additional_info,labels,email,groups,password\n" + quote_row(cells) + "\n"

    assert quote_row(cells).split(",")[:3] == ["'=SUM(A1)", "''=kept", "'+33 6 12"]
    row = only_row(parse(text))
    assert (row.values["last_name"], row.values["first_name"], row.values["additional_info"]) == \
        ("=SUM(A1)", "'=kept", "+33 6 12")
    assert row.values["labels"] == ["O'Brien"] and row.values["groups"] == ["-"]
    assert row.values["password"] == "'plain-password"


@pytest.mark.parametrize("kind", ["csv", "paste"])
def test_load_refuses_an_xlsx_given_as_text_with_a_message(kind):
    data = xlsx(["email"], ["j@example.com"])

    with pytest.raises(RosterUnreadable) as refused:
        load(data, filename="roster.xlsx", kind=kind)

    assert "XLSX" in str(refused.value)


def test_load_refuses_text_given_as_xlsx():
    with pytest.raises(RosterUnreadable) as refused:
        load(b"email\nj@example.com\n", filename="roster.csv", kind="xlsx")

    assert "roster.csv" in str(refused.value)


@pytest.mark.parametrize("data", [
    b"PK\x03\x04" + b"this is not a zip archive" * 10,
    xlsx(["email"], ["j@example.com"])[:300],
    b"PK\x03\x04" + bytes(range(1, 256)),
], ids=["junk", "truncated", "bytes"])
def test_load_refuses_a_damaged_xlsx_with_roster_unreadable(data):
    with pytest.raises(RosterUnreadable) as refused:
        load(data, filename="roster.xlsx")

    assert type(refused.value) is RosterUnreadable
    assert "roster.xlsx" in str(refused.value)


def test_load_refuses_a_zip_that_is_not_a_workbook():
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")

    with pytest.raises(RosterUnreadable):
        load(buffer.getvalue())


def test_load_reads_windows_1252_text():
    row = only_row(load("Müller;Zoë;z@example.com;Café | Señor\r\n".encode("cp1252")))

    assert row.errors == []
    assert row.values == {"last_name": "Müller", "first_name": "Zoë", "email": "z@example.com",
                          "labels": ["Café", "Señor"]}


def test_load_reads_utf8_text():
    row = only_row(load("Müller,Zoë,z@example.com\n".encode("utf-8"), kind="csv"))

    assert row.values["last_name"] == "Müller"


def test_load_paste_kind_reads_tabs():
    row = only_row(load(b"Smith\tJames\tj@example.com\n", kind="paste"))

    assert row.values == {"last_name": "Smith", "first_name": "James", "email": "j@example.com"}


# --- Too many rows ---------------------------------------------------------------------------

def rows_text(count, header=False):
    """`count` valid data rows, with or without an email header."""
    if header:
        return "email\n" + "".join(f"user{i}@example.com\n" for i in range(count))
    return "".join(f"Name{i},First,user{i}@example.com\n" for i in range(count))


def test_max_rows_data_rows_are_accepted():
    for header in (False, True):
        roster = parse(rows_text(10, header=header), max_rows=10)
        assert roster.total_rows == 10
        assert roster.all_errors() == []


@pytest.mark.parametrize("header", [False, True], ids=["no-header", "header"])
def test_more_than_max_rows_data_rows_are_refused(header):
    with pytest.raises(RosterTooLarge) as refused:
        parse(rows_text(11, header=header), max_rows=10)

    assert "10" in str(refused.value)


def test_blank_and_comment_lines_do_not_count_towards_max_rows():
    text = "# header comment\n\n" + rows_text(10, header=True).replace("\n", "\n\n# note\n")

    assert parse(text, max_rows=10).total_rows == 10


@pytest.mark.parametrize("header", [False, True], ids=["no-header", "header"])
def test_xlsx_more_than_max_rows_data_rows_are_refused(header):
    rows = ([["email"]] if header else []) + [[f"Name{i}", "First", f"user{i}@example.com"] for i in range(11)]

    with pytest.raises(RosterTooLarge):
        parse_xlsx(xlsx(*rows), languages=LANGUAGES, max_rows=10)


def test_load_raises_roster_too_large_for_xlsx():
    rows = [["email"]] + [[f"user{i}@example.com"] for i in range(11)]

    with pytest.raises(RosterTooLarge):
        load(xlsx(*rows), max_rows=10)


def test_a_csv_of_50_001_rows_is_refused_quickly():
    assert MAX_ROWS == 50_000
    data = rows_text(MAX_ROWS + 1).encode()
    started = time.monotonic()

    with pytest.raises(RosterTooLarge) as refused:
        load(data, filename="big.csv")

    assert "50,000" in str(refused.value)
    assert time.monotonic() - started < 10


# --- total_rows ------------------------------------------------------------------------------

def test_total_rows_counts_data_rows_only():
    text = ("# comment\n"
            "\n"
            "email,last_name\n"
            "a@example.com,A\n"
            "\n"
            "# another\n"
            "bad,B\n"
            '"c@example.com","C\nD"\n')
    roster = parse(text)

    assert roster.total_rows == 3
    assert [row.line for row in roster.rows] == [4, 7, 8]


def test_total_rows_of_an_empty_roster_is_zero():
    for text in ["", "\n\n", "# only a comment\n", "\ufeff"]:
        roster = parse(text)
        assert roster.total_rows == 0
        assert roster.all_errors() == []


def test_total_rows_of_an_xlsx_counts_data_rows_only():
    roster = parse_xlsx(xlsx(["email"], ["a@example.com"], [], ["# comment"], ["b@example.com"]),
                        languages=LANGUAGES)

    assert roster.total_rows == 2


# --- Source cells (for "Download rejected rows") ---------------------------------------------

def test_row_source_keeps_the_cells_as_given():
    row = only_row(parse('Smith, "James, Jr", J@Example.com, A | B\n'))

    assert [str(cell).strip() for cell in row.source] == ["Smith", "James, Jr", "J@Example.com", "A | B"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_quote_row_is_read_back_as_the_same_cells(delimiter):
    cells = ["Smith, Jr", 'The "Boss"', "j@example.com", "a;b\tc"]
    text = delimiter.join(["last_name", "first_name", "email", "additional_info"]) + "\n"
    row = only_row(parse(text + quote_row(cells, delimiter) + "\n"))

    assert row.values == {"last_name": "Smith, Jr", "first_name": 'The "Boss"', "email": "j@example.com",
                          "additional_info": "a;b\tc"}


def test_quote_row_is_read_back_with_a_line_break_in_a_cell():
    cells = ["Smith", "James", "j@example.com", "Line one\nLine two"]
    text = "last_name,first_name,email,additional_info\n" + quote_row(cells, ",") + "\nDoe,Jane,bad\n"
    roster = parse(text)

    assert roster.rows[0].values["additional_info"] == "Line one\nLine two"
    assert errors_of(roster) == [(4, "email")]


def test_quote_row_is_read_back_when_the_first_cell_starts_with_hash():
    cells = ["#1 Smith", "James", "j@example.com", ""]
    roster = parse("last_name,first_name,email,additional_info\n" + quote_row(cells, ",") + "\n")

    assert [row.values for row in roster.rows] == [
        {"last_name": "#1 Smith", "first_name": "James", "email": "j@example.com"}]


# --- Properties ------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])
ROSTER_ALPHABET = st.sampled_from(list(',;\t"| \n\r#@.-_') + list("abcXYZ019é") + ["\r\n", "email", "role"])
roster_like_text = st.lists(ROSTER_ALPHABET, max_size=80).map("".join)
any_text = st.one_of(st.text(), roster_like_text)


def check_roster(roster):
    assert isinstance(roster, Roster)
    for error in roster.all_errors():
        assert isinstance(error, RosterError)
        assert error.column is None or error.column in COLUMNS
    for row in roster.rows:
        assert all(error.line == row.line for error in row.errors)


@PROPERTY_SETTINGS
@given(any_text)
def test_any_text_parses_into_rows_and_errors_without_raising(text):
    check_roster(parse(text))


@PROPERTY_SETTINGS
@given(any_text)
def test_any_text_has_errors_only_on_lines_of_the_input(text):
    lines = user_lines(text)
    roster = parse(text)

    for error in roster.all_errors():
        assert 1 <= error.line <= lines, (error, lines)
    for row in roster.rows:
        assert 1 <= row.line <= lines


@PROPERTY_SETTINGS
@given(roster_like_text)
def test_any_bytes_of_roster_like_text_load_without_raising(text):
    data = text.encode("utf-8")
    check_roster(load(data))
    check_roster(load(text.encode("cp1252", errors="replace"), kind="csv"))


TEXT_COLUMNS = ("last_name", "first_name", "email", "additional_info")
cell_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00\r"), max_size=40) \
    .filter(lambda cell: cell == cell.strip())
emails = st.builds("{}@{}.com".format, st.from_regex(r"[a-z][a-z0-9.]{0,15}[a-z0-9]", fullmatch=True)
                   .filter(lambda local: ".." not in local),
                   st.sampled_from(["example", "mail-host", "x9"]))


@PROPERTY_SETTINGS
@given(last_name=cell_text, first_name=cell_text, email=emails, additional_info=cell_text,
       delimiter=st.sampled_from([",", ";", "\t"]))
@example(last_name="", first_name="#", email="a0@example.com", additional_info="0\n0", delimiter="\t")
def test_quote_row_round_trips_through_parse_text(last_name, first_name, email, additional_info, delimiter):
    cells = [last_name, first_name, email, additional_info]
    text = delimiter.join(TEXT_COLUMNS) + "\n" + quote_row(cells, delimiter) + "\n"
    roster = parse(text)

    assert roster.errors == []
    row = only_row(roster)
    assert row.line == 2
    assert row.errors == []
    assert row.values == {name: value for name, value in zip(TEXT_COLUMNS, cells, strict=True) if value}


def test_a_google_workspace_password_given_as_a_hash_is_refused_not_stored_as_a_password():
    roster = parse("First Name [Required],Email Address [Required],Password [Required],"
                   "Password Hash Function [UPLOAD ONLY]\n"
                   "Ada,ada@example.com,5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8,SHA-1\n"
                   "Bob,bob@example.com,Plain-password-1,\n")

    ada, bob = roster.rows
    assert "password" not in ada.values
    assert [(error.column, error.message.split(" (")[0]) for error in ada.errors] == [
        ("password", "The password is a SHA-1 hash")]
    assert bob.errors == [] and bob.values["password"] == "Plain-password-1"
