"""Reading a roster (DESIGN §4): pasted text, CSV or XLSX, into rows and line-numbered errors.

Pure: no database. What needs the database (existing users, groups) is checked when the
import is planned (lms.enrollment.rosters.importer). Whatever the input, the result is rows and
errors, never an exception: a malformed line is an error on that line.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email

from lms.accounts.passwords import GENERATE
from lms.enrollment.rosters.headers import LIST_FIELDS, TEMPLATE_FIELDS, field_of, header_key
from lms.enrollment.rosters.layout import HEADER_SEARCH_ROWS, Layout, MappingRefused, find_layout, holds_roster

COLUMNS = TEMPLATE_FIELDS  # the template's columns, in its order (a roster without a header)
MIN_PASSWORD_LENGTH = 8
MAX_ROWS = 50_000
MAX_COLUMNS = 200  # far more than any export has; bounds the work per line
MAX_LINE_CHARS = 100_000  # a text line (or a record spanning lines) longer than this is refused
MAX_TOO_LONG = 20  # more such lines, and the roster is refused whole
MAX_FIELD_LENGTH = {"last_name": 100, "first_name": 100, "email": 320, "password": 200,
                    "additional_info": 2000, "external_id": 255, "full_name": 200}
MAX_LABEL_LENGTH = 100
ROLES = {"admin": "admin", "administrator": "admin", "manager": "manager", "teacher": "manager",
         "trainer": "manager", "instructor": "manager", "formateur": "manager", "formatrice": "manager",
         "learner": "learner", "trainee": "learner", "student": "learner", "apprenant": "learner",
         "stagiaire": "learner", "cursist": "learner", "deelnemer": "learner"}
BOOLEAN_FIELDS = ("send_email", "admin", "must_change_password")
TRUE = {"1", "true", "yes", "y", "oui", "ja", "vrai", "waar"}
FALSE = {"0", "false", "no", "n", "non", "nee", "faux", "onwaar"}


class RosterUnreadable(Exception):
    """The file is not a roster this module can read (wrong type, damaged, too big)."""


class RosterTooLarge(RosterUnreadable):
    """The roster has more data rows than an import takes (MAX_ROWS)."""


MAX_FILE_BYTES = 10 * 1024 * 1024
XLSX_MAGIC = b"PK\x03\x04"


def load_roster(data: bytes, *, filename="", kind="auto", languages, max_rows=MAX_ROWS, mapping=None,
                sheet=None) -> Roster:
    """A roster from a file's bytes: XLSX, or text (CSV or a paste) in UTF-8 or Windows-1252.
    `kind` is auto, paste, csv or xlsx; auto goes by the content. `mapping`: {column: field}
    (lms.enrollment.rosters.layout); `sheet`: the XLSX sheet to read, by name."""
    options = {"languages": languages, "max_rows": max_rows, "mapping": mapping}
    if len(data) > MAX_FILE_BYTES:
        raise RosterUnreadable(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; "
                               "split it into several imports.")
    is_xlsx = data.startswith(XLSX_MAGIC)
    if kind == "xlsx" or (kind == "auto" and is_xlsx):
        if not is_xlsx:
            raise RosterUnreadable(f"{filename or 'This file'} is not an XLSX workbook.")
        try:
            return parse_xlsx(data, sheet=sheet, **options)
        except RosterUnreadable:
            raise
        except Exception:  # openpyxl raises many kinds on a damaged workbook
            raise RosterUnreadable(f"{filename or 'This file'} cannot be read as an XLSX workbook: it is damaged, "
                                   "or another kind of file (a Word document, an old .xls) renamed.") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text": UTF-16, tab-separated
        return parse_text(data.decode("utf-16", errors="replace"), **options)
    if is_xlsx or b"\x00" in data[:4096]:
        raise RosterUnreadable(f"{filename or 'This file'} is not a text or CSV roster"
                               + (" (it is an XLSX workbook: choose the XLSX format)." if is_xlsx else "."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    return parse_text(text, **options)


@dataclass(frozen=True)
class RosterError:
    line: int
    column: str | None
    message: str

    def as_dict(self):
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass
class RosterRow:
    """One data row: `values` holds only the columns the row fills, already typed
    (labels and groups as lists, send_email as bool, deactivate_on as a date)."""

    line: int
    values: dict
    errors: list[RosterError] = field(default_factory=list)
    source: list = field(default_factory=list)  # the cells as given, for "Download rejected rows"
    split_full_name: bool = False  # first and last names came from a full name

    @property
    def email(self):
        return self.values.get("email")


@dataclass
class Roster:
    rows: list[RosterRow]
    errors: list[RosterError]  # errors about the whole roster (the header), on its line
    columns: tuple  # the field of each column of the file; None where a column is not imported
    layout: Layout | None = None  # its header, samples and mapping, for the preview's mapping step
    warnings: list[str] = field(default_factory=list)  # what was read otherwise than written: ignored columns...
    sheet: str | None = None  # XLSX: the sheet read
    sheets: list[str] = field(default_factory=list)  # XLSX: every sheet of the workbook

    @property
    def total_rows(self):
        return len(self.rows)

    def all_errors(self):
        return sorted(self.errors + [error for row in self.rows for error in row.errors],
                      key=lambda error: error.line)


def parse_text(text: str, *, languages, max_rows=MAX_ROWS, mapping=None) -> Roster:
    """A paste or a CSV file. The delimiter is a comma unless the text is tab- or
    semicolon-separated (a spreadsheet copy, a European CSV)."""
    text = text.lstrip("\ufeff")
    # Only CR, LF and CRLF end a line (str.splitlines would also break on a vertical tab or
    # U+2028 and shift every line number after it).
    lines = LINE.findall(text)
    delimiter = _delimiter(lines)
    records = []
    for line_number, cells in _records(lines, delimiter):
        if not isinstance(cells, _Unreadable) and not any(cell.strip() for cell in cells):
            continue  # a row of empty cells (a spreadsheet's ,,,,): a blank line
        records.append((line_number, cells))
        _check_size(records, max_rows)
    return _roster(records, languages=languages, from_xlsx=False, max_rows=max_rows, mapping=mapping)


LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _check_size(records, max_rows, *, final=False):
    """Refuse a roster over max_rows data rows; while reading, one more record may be a header."""
    if max_rows is not None and len(records) > max_rows + (0 if final else 1):
        raise RosterTooLarge(f"The roster has more than {max_rows:,} rows; split it into several imports.")


def parse_xlsx(data: bytes, *, languages, max_rows=MAX_ROWS, mapping=None, sheet=None) -> Roster:
    """A sheet of an XLSX workbook: the one named `sheet`, else the first that holds a roster
    (a "Read me" sheet before it is passed); line numbers are the sheet's row numbers. Cells
    may be real dates, numbers and booleans as well as text."""
    from openpyxl import load_workbook

    from lms.enrollment.rosters.workbook import WorkbookRefused, check_workbook

    try:
        check_workbook(data, max_columns=MAX_COLUMNS)
    except WorkbookRefused as refused:
        raise RosterUnreadable(str(refused)) from None
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        chosen = _sheet_to_read(workbook, sheet)
        records = []
        for record in _sheet_records(chosen):
            records.append(record)
            _check_size(records, max_rows)
        names = workbook.sheetnames
    finally:
        workbook.close()
    roster = _roster(records, languages=languages, from_xlsx=True, max_rows=max_rows, mapping=mapping)
    roster.sheet, roster.sheets = chosen.title, names
    if sheet is None and chosen.title != names[0]:
        passed = ", ".join(f"“{name}”" for name in names[:names.index(chosen.title)])
        roster.warnings.insert(0, f"Read the sheet “{chosen.title}”: the first one holding a roster "
                                  f"({passed} before it hold{'s' if passed.count('“') == 1 else ''} none).")
    return roster


SHEET_PEEK_ROWS = 20  # the rows of each sheet looked at to find the one that holds a roster


def _sheet_to_read(workbook, name):
    sheets = workbook.worksheets
    if name is not None:
        wanted = " ".join(str(name).split()).casefold()
        for sheet in sheets:
            if sheet.title.casefold() == wanted:
                return sheet
        raise RosterUnreadable(f"The workbook has no sheet “{name}”; its sheets are: "
                               + ", ".join(f"“{sheet.title}”" for sheet in sheets) + ".")
    if len(sheets) == 1:
        return sheets[0]
    scores = []
    for sheet in sheets:
        peek = []
        for record in _sheet_records(sheet):
            peek.append(record)
            if len(peek) == SHEET_PEEK_ROWS:
                break
        scores.append(holds_roster(peek))
        if scores[-1] == 2:  # a header naming the emails: this is it
            return sheet
    return sheets[scores.index(1)] if 1 in scores else sheets[0]


def _sheet_records(sheet):
    """(row number, cells) of a sheet's rows that hold something, comments left out."""
    sheet.reset_dimensions()  # a sheet's stated size is not trusted: openpyxl would pad every row to it
    for row_number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = list(row)
        while cells and (cells[-1] is None or str(cells[-1]).strip() == ""):
            cells.pop()
        if not cells or str(cells[0] or "").lstrip().startswith("#"):
            continue
        if len(cells) > MAX_COLUMNS:
            cells = _Unreadable(f"it has {len(cells):,} cells; a roster has at most {MAX_COLUMNS} columns")
        yield row_number, cells


DELIMITER_SAMPLE_LINES = 10


def _delimiter(lines):
    """The delimiter under which a header line names known columns; without such a line, the
    first line's delimiter, where a title row above the header, holding none (or a single comma
    in its text), does not decide: the first line with two delimiters does."""
    named = _header_delimiter(lines)
    if named is not None:
        return named
    first = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        delimiter = "\t" if "\t" in line else ";" if line.count(";") > line.count(",") else ","
        first = first or delimiter
        if line.count(delimiter) >= 2 or number >= DELIMITER_SAMPLE_LINES:
            return delimiter
    return first or ","


DELIMITERS = ("\t", ";", ",")


def _header_delimiter(lines):
    """The delimiter that splits one of the first lines into two or more known column names
    (more than any other delimiter does), or None. A two-column header ("email,password") has a
    single comma, so counting would let the rows below decide: a password holding semicolons
    would then cut every line in the wrong places, and quote pieces of it in the errors."""
    looked_at = 0
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        known = {delimiter: _known_names(stripped, delimiter) for delimiter in DELIMITERS}
        best = max(DELIMITERS, key=known.get)
        if known[best] >= 2 and sum(count == known[best] for count in known.values()) == 1:
            return best
        looked_at += 1
        if looked_at >= HEADER_SEARCH_ROWS:
            return None
    return None


def _known_names(line, delimiter):
    try:
        cells = next(csv.reader([line[:MAX_LINE_CHARS]], delimiter=delimiter, skipinitialspace=True), [])
    except csv.Error:  # a NUL character: the line is reported when the records are read
        return 0
    return sum(1 for cell in cells[:MAX_COLUMNS + 1] if field_of(cell) is not None)


def _records(lines, delimiter):
    """(1-based line where the record starts, cells) for each record, skipping blank and
    comment lines. A quoted field may span lines; the record keeps its first line's number."""
    tracker = _LineTracker(lines)

    def reader_from_here():
        return csv.reader(tracker, delimiter=delimiter, quotechar='"', skipinitialspace=True)

    reader = reader_from_here()
    too_long = 0
    while True:
        tracker.record_start = None
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # e.g. a NUL character: the line is reported, reading goes on
            cells = _Unreadable(str(error))
        except _LineTooLong:  # an unclosed quote would otherwise take in the rest of the file
            start = tracker.record_start
            too_long += 1
            if too_long > MAX_TOO_LONG:  # each costs a read of MAX_LINE_CHARS: bounded work
                raise RosterUnreadable(f"More than {MAX_TOO_LONG} lines of this roster are longer than "
                                       f"{MAX_LINE_CHARS:,} characters (an unclosed quote?). Fix them and import again.")
            yield start, _Unreadable(f"it is longer than {MAX_LINE_CHARS:,} characters")
            tracker.restart_after(start)
            reader = reader_from_here()
            continue
        if len(cells) > MAX_COLUMNS:
            cells = _Unreadable(f"it has {len(cells):,} fields; a roster has at most {MAX_COLUMNS} columns")
        yield tracker.record_start, cells


class _LineTooLong(Exception):
    pass


class _Unreadable(list):
    """A line the CSV reader could not read, with its reason."""

    def __init__(self, reason):
        super().__init__()
        self.reason = reason


class _LineTracker:
    """Feeds csv.reader the input lines and notes the line each record starts on."""

    def __init__(self, lines):
        self._lines = lines
        self._next = 0
        self.record_start = None
        self.record_chars = 0

    def restart_after(self, line_number):
        """Read on from the line after `line_number` (a record too long, most likely an unclosed
        quote: the lines it took in are read again as records of their own)."""
        self._next = line_number
        self.record_start = None

    def __iter__(self):
        return self

    def __next__(self):
        while self._next < len(self._lines):
            number, line = self._next + 1, self._lines[self._next]
            self._next += 1
            if self.record_start is None:
                stripped = line.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                self.record_start = number
                self.record_chars = 0
            self.record_chars += len(line)
            if self.record_chars > MAX_LINE_CHARS:
                raise _LineTooLong()
            return line
        raise StopIteration


def _roster(records, *, languages, from_xlsx, max_rows, mapping=None):
    errors = []
    if records and isinstance(records[0][1], _Unreadable):  # the header, or a first row: either way unsafe
        first_line, first_cells = records[0]
        errors.append(RosterError(first_line, None, f"The first line cannot be read: {first_cells.reason}."))
        layout = Layout(fields=list(COLUMNS))
    else:
        try:
            layout = find_layout(records, mapping=mapping, unreadable=lambda cells: isinstance(cells, _Unreadable))
        except MappingRefused as refused:
            raise RosterUnreadable(str(refused)) from None
        errors += [RosterError(line, column, message) for line, column, message in layout.problems]
    _check_size(records[layout.start:], max_rows, final=True)
    fields = tuple(layout.fields)
    rows, seen, seen_ids, split_names = [], {}, {}, False
    # Google Workspace's "Password Hash Function": when a row names one, its password is a hash.
    hashed_at = [index for index, name in enumerate(layout.names) if header_key(name) == "passwordhashfunction"]
    for line, cells in records[layout.start:]:
        row = _row(line, cells, fields, languages=languages, from_xlsx=from_xlsx)
        split_names |= row.split_full_name
        hash_function = next((cell_text(cells[index]) for index in hashed_at
                              if index < len(cells) and cell_text(cells[index])), None)
        if hash_function and row.values.pop("password", None):
            row.errors.append(RosterError(line, "password", f"The password is a {hash_function[:20]} hash (its "
                                          "Password Hash Function says so), which cannot be signed in with; leave "
                                          "it empty to send an invitation instead."))
        for key, earlier in (("email", seen), ("external_id", seen_ids)):
            value = row.values.get(key)
            if value and not any(error.column == key for error in row.errors):
                if value in earlier:
                    row.errors.append(RosterError(line, key, f"{value} is already on line {earlier[value]}."))
                else:
                    earlier[value] = line
        rows.append(row)
    if errors:  # a bad header (or columns read by position in the wrong place) makes every row unreliable
        reason = ("the header is not valid" if layout.header_line is not None or layout.problems == []
                  else f"its columns cannot be read by position (line {errors[0].line})")
        for row in rows:
            row.errors.insert(0, RosterError(row.line, None, f"Not imported: {reason}."))
    warnings = list(layout.warnings)
    if split_names:
        names = [layout.titles[index] for index, held in enumerate(fields) if held == "full_name"]
        warnings.append(f"First and last names were taken from the column “{names[0]}” "
                        "(its last word as the last name).")
    return Roster(rows=rows, errors=errors, columns=fields, layout=layout, warnings=warnings)


def _row(line, cells, columns, *, languages, from_xlsx):
    row = RosterRow(line=line, values={}, source=["" if cell is None else cell for cell in cells])
    if isinstance(cells, _Unreadable):
        row.errors.append(RosterError(line, None, f"This line cannot be read: {cells.reason}."))
        return row
    if len(cells) > len(columns):
        extra = [cell for cell in cells[len(columns):] if str(cell if cell is not None else "").strip()]
        if extra:
            row.errors.append(RosterError(line, None, f"Too many fields: {len(cells)} where the roster has "
                                                      f"{len(columns)} columns ({', '.join(_named(columns))})."))
    for name, cell in zip(columns, cells, strict=False):
        if name is None:
            continue
        try:
            value = _value(name, cell, languages=languages, from_xlsx=from_xlsx)
        except ValueError as error:
            row.errors.append(RosterError(line, name, str(error)))
            continue
        if name in LIST_FIELDS and value:  # several columns (group1, group2...) add up
            known = {item.casefold() for item in row.values.get(name, [])}
            row.values.setdefault(name, []).extend(item for item in value if item.casefold() not in known)
        elif value not in (None, "", []):
            row.values[name] = value
    _derived(row)
    if "email" not in row.values and not any(error.column == "email" for error in row.errors):
        row.errors.append(RosterError(line, "email", "The email is missing."))
    return row


def _named(columns):
    return [name or "not imported" for name in columns]


def _derived(row):
    """The fields other systems write otherwise: a full name (split when the row has no first or
    last name), an admin flag (TRUE makes the role admin)."""
    values = row.values
    full_name = values.pop("full_name", None)
    if full_name and not values.get("first_name") and not values.get("last_name"):
        first, _, last = full_name.rpartition(" ")
        values["first_name"], values["last_name"] = (first, last) if first else (last, "")
        row.split_full_name = True
    if values.pop("admin", None):
        if values.get("role", "admin") != "admin":
            row.errors.append(RosterError(row.line, "admin", f"admin is TRUE but the role is {values['role']}."))
        else:
            values["role"] = "admin"


def cell_text(cell) -> str:
    """A cell as the text it stands for: 3.0 is 3, a date at midnight is YYYY-MM-DD, and a
    leading ' that keeps a spreadsheet from running '=..., '+..., '-... or '@... is dropped."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    if isinstance(cell, datetime):
        cell = cell.date() if cell.time() == datetime.min.time() else cell
    text = str(cell).replace("\r\n", "\n").strip()
    if text[:1] == "'" and _looks_like_formula(text[1:]):
        text = text[1:]
    return text


FORMULA_STARTS = ("=", "+", "-", "@")  # a spreadsheet runs a cell starting so as a formula


def _looks_like_formula(text):
    """Starts as a formula, or as one already made safe with a ' (which then gets another)."""
    return text.startswith(FORMULA_STARTS) or (text[:1] == "'" and text[1:].startswith(FORMULA_STARTS))


def _spreadsheet_safe(cell):
    return "'" + cell if _looks_like_formula(cell) or cell.startswith(("\t", "\r")) else cell


def _list(cell, name):
    values, seen = [], set()
    for part in cell_text(cell).split("|"):
        part = " ".join(part.split())
        if part and part.casefold() not in seen:
            if name == "labels" and len(part) > MAX_LABEL_LENGTH:
                raise ValueError(f"The label {part[:20]!r}... is longer than {MAX_LABEL_LENGTH} characters.")
            seen.add(part.casefold())
            values.append(part)
    return values


def _value(name, cell, *, languages, from_xlsx):
    if name in LIST_FIELDS:
        return _list(cell, name)
    if name == "deactivate_on":
        return _date(cell)
    if name in BOOLEAN_FIELDS and isinstance(cell, bool):
        return cell
    text = cell_text(cell)
    if not text:
        return None
    if len(text) > MAX_FIELD_LENGTH.get(name, 100):
        raise ValueError(f"Too long: at most {MAX_FIELD_LENGTH.get(name, 100)} characters.")
    if name == "email":
        try:
            return validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError as error:
            raise ValueError(f"{text!r} is not a valid email address: {error}") from None
    if name in BOOLEAN_FIELDS:
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError(f"{text!r} is not 1 or 0 (also true/false, yes/no).")
    if name == "password":
        if text.casefold() == GENERATE:  # a temporary password, generated when the row is imported
            return GENERATE
        if len(text) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
        return text
    if name == "language":
        return language_tag(text, languages)
    if name == "role":
        if text.lower() not in ROLES:
            raise ValueError(f"Unknown role {text!r}; use admin, manager or learner (also trainee, student; "
                             "teacher, trainer, instructor for manager).")
        return ROLES[text.lower()]
    return text


def language_tag(text, languages):
    """A supported language as given ('fr', 'FR'), or a regional tag of one ('nl-BE', 'fr_BE'),
    kept as written in BCP 47 form (the pages and emails use its base language's texts)."""
    match = next((tag for tag in languages if tag.lower() == text.lower()), None)
    if match is not None:
        return match
    parts = re.fullmatch(r"([A-Za-z]{2,3})[-_]([A-Za-z]{2}|\d{3}|[A-Za-z]{4}(?:[-_][A-Za-z]{2})?)", text)
    if parts:
        base = next((tag for tag in languages if tag.lower() == parts.group(1).lower()), None)
        if base is not None:
            region = parts.group(2).replace("_", "-")
            return f"{base}-{region.upper() if len(region) == 2 else region.title()}"
    raise ValueError(f"Unknown language {text!r}; supported: {', '.join(languages)} (and their regional "
                     "forms, such as nl-BE).")


DATE_FORMATS = ((r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?", "%Y-%m-%d"),
                (r"\d{1,2}/\d{1,2}/\d{4}", "%d/%m/%Y"), (r"\d{1,2}\.\d{1,2}\.\d{4}", "%d.%m.%Y"),
                (r"\d{1,2}-\d{1,2}-\d{4}", "%d-%m-%Y"))


def _date(cell):
    """A date cell, or a date written YYYY-MM-DD (a time after it is dropped) or day first."""
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    text = cell_text(cell)
    if not text:
        return None
    for pattern, form in DATE_FORMATS:
        if re.fullmatch(pattern, text):
            try:
                return datetime.strptime(text[:10] if form == "%Y-%m-%d" else text, form).date()
            except ValueError:
                break
    raise ValueError(f"{text!r} is not a date; write it as YYYY-MM-DD or DD/MM/YYYY.")


def quote_row(cells, delimiter=",") -> str:
    """One CSV record that parse_text reads back as these cells (for "Download rejected rows"):
    line breaks are quoted, a first cell starting with # is quoted so it is not a comment, and
    a cell a spreadsheet would run as a formula gets a leading ' (which cell_text drops)."""
    cells = [_spreadsheet_safe(cell_text(cell) if not isinstance(cell, str) else cell) for cell in cells]
    def written(quoting):
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n", quoting=quoting).writerow(cells)
        return buffer.getvalue()[:-2]

    line = written(csv.QUOTE_MINIMAL)
    # A line that reads as a comment once trimmed (a # after empty cells and a tab) is quoted whole.
    return written(csv.QUOTE_ALL) if line.strip().startswith("#") else line
