"""Reading a roster (DESIGN §4): pasted text, CSV or XLSX, into rows and line-numbered errors.

Pure: no database. What needs the database (existing users, groups) is checked when the
import is planned (lms.enrollment.rosters.importer). Whatever the input, the result is rows and
errors, never an exception: a malformed line is an error on that line.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email

COLUMNS = ("last_name", "first_name", "email", "labels", "send_email", "password", "language",
           "additional_info", "groups", "role", "deactivate_on")
MIN_PASSWORD_LENGTH = 8
MAX_ROWS = 50_000
MAX_COLUMNS = 200  # far more than any export has; bounds the work per line
MAX_LINE_CHARS = 100_000  # a text line (or a record spanning lines) longer than this is refused
MAX_TOO_LONG = 20  # more such lines, and the roster is refused whole
MAX_FIELD_LENGTH = {"last_name": 100, "first_name": 100, "email": 320, "password": 200,
                    "additional_info": 2000}
MAX_LABEL_LENGTH = 100
ROLES = {"admin": "admin", "manager": "manager", "learner": "learner", "trainee": "learner"}
TRUE, FALSE = {"1", "true", "yes"}, {"0", "false", "no"}


class RosterUnreadable(Exception):
    """The file is not a roster this module can read (wrong type, damaged, too big)."""


class RosterTooLarge(RosterUnreadable):
    """The roster has more data rows than an import takes (MAX_ROWS)."""


MAX_FILE_BYTES = 10 * 1024 * 1024
XLSX_MAGIC = b"PK\x03\x04"


def load_roster(data: bytes, *, filename="", kind="auto", languages, max_rows=MAX_ROWS) -> Roster:
    """A roster from a file's bytes: XLSX, or text (CSV or a paste) in UTF-8 or Windows-1252.
    `kind` is auto, paste, csv or xlsx; auto goes by the content."""
    if len(data) > MAX_FILE_BYTES:
        raise RosterUnreadable(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; "
                               "split it into several imports.")
    is_xlsx = data.startswith(XLSX_MAGIC)
    if kind == "xlsx" or (kind == "auto" and is_xlsx):
        if not is_xlsx:
            raise RosterUnreadable(f"{filename or 'This file'} is not an XLSX workbook.")
        try:
            return parse_xlsx(data, languages=languages, max_rows=max_rows)
        except RosterUnreadable:
            raise
        except Exception:  # openpyxl raises many kinds on a damaged workbook
            raise RosterUnreadable(f"{filename or 'This file'} cannot be read as an XLSX workbook: it is damaged, "
                                   "or another kind of file (a Word document, an old .xls) renamed.") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text": UTF-16, tab-separated
        return parse_text(data.decode("utf-16", errors="replace"), languages=languages, max_rows=max_rows)
    if is_xlsx or b"\x00" in data[:4096]:
        raise RosterUnreadable(f"{filename or 'This file'} is not a text or CSV roster"
                               + (" (it is an XLSX workbook: choose the XLSX format)." if is_xlsx else "."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    return parse_text(text, languages=languages, max_rows=max_rows)


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

    @property
    def email(self):
        return self.values.get("email")


@dataclass
class Roster:
    rows: list[RosterRow]
    errors: list[RosterError]  # errors about the whole roster (the header), on its line
    columns: tuple

    @property
    def total_rows(self):
        return len(self.rows)

    def all_errors(self):
        return sorted(self.errors + [error for row in self.rows for error in row.errors],
                      key=lambda error: error.line)


def column_key(name) -> str:
    """'First name', 'first-name' and 'FIRST_NAME' are the same column."""
    return re.sub(r"[\s\-_]+", "_", str(name or "").strip().lower())


def parse_text(text: str, *, languages, max_rows=MAX_ROWS) -> Roster:
    """A paste or a CSV file. The delimiter is a comma unless the text is tab- or
    semicolon-separated (a spreadsheet copy, a European CSV)."""
    text = text.lstrip("\ufeff")
    # Only CR, LF and CRLF end a line (str.splitlines would also break on a vertical tab or
    # U+2028 and shift every line number after it).
    lines = LINE.findall(text)
    delimiter = _delimiter(lines)
    records = []
    for line_number, cells in _records(lines, delimiter):
        records.append((line_number, cells))
        _check_size(records, max_rows)
    return _roster(records, languages=languages, from_xlsx=False, max_rows=max_rows)


LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _check_size(records, max_rows, *, final=False):
    """Refuse a roster over max_rows data rows; while reading, one more record may be a header."""
    if max_rows is not None and len(records) > max_rows + (0 if final else 1):
        raise RosterTooLarge(f"The roster has more than {max_rows:,} rows; split it into several imports.")


def parse_xlsx(data: bytes, *, languages, max_rows=MAX_ROWS) -> Roster:
    """The first sheet of an XLSX workbook; line numbers are the sheet's row numbers. Cells
    may be real dates, numbers and booleans as well as text."""
    from openpyxl import load_workbook

    from lms.enrollment.rosters.workbook import WorkbookRefused, check_workbook

    try:
        check_workbook(data, max_columns=MAX_COLUMNS)
    except WorkbookRefused as refused:
        raise RosterUnreadable(str(refused)) from None
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # a sheet's stated size is not trusted: openpyxl would pad every row to it
        records = []
        for row_number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = list(row)
            while cells and (cells[-1] is None or str(cells[-1]).strip() == ""):
                cells.pop()
            if not cells or str(cells[0] or "").lstrip().startswith("#"):
                continue
            if len(cells) > MAX_COLUMNS:
                cells = _Unreadable(f"it has {len(cells):,} cells; a roster has at most {MAX_COLUMNS} columns")
            records.append((row_number, cells))
            _check_size(records, max_rows)
    finally:
        workbook.close()
    return _roster(records, languages=languages, from_xlsx=True, max_rows=max_rows)


def _delimiter(lines):
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\t" in line:
            return "\t"
        if line.count(";") > line.count(","):
            return ";"
        return ","
    return ","


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


def _roster(records, *, languages, from_xlsx, max_rows):
    columns, errors, start = COLUMNS, [], 0
    if records and isinstance(records[0][1], _Unreadable):  # the header, or a first row: either way unsafe
        first_line, first_cells = records[0]
        errors.append(RosterError(first_line, None, f"The first line cannot be read: {first_cells.reason}."))
    elif records:
        first_line, first_cells = records[0]
        keys = [column_key(cell) for cell in first_cells]
        if keys and any(key in COLUMNS for key in keys) and not any(_looks_like_email(cell) for cell in first_cells):
            start = 1
            unknown = [str(cell).strip() for cell, key in zip(first_cells, keys, strict=True)
                       if key and key not in COLUMNS]
            counts = Counter(key for key in keys if key)
            repeated = sorted(key for key, number in counts.items() if number > 1)
            if unknown:
                named = ", ".join(name[:60] for name in unknown[:10]) + (
                    f" and {len(unknown) - 10:,} more" if len(unknown) > 10 else "")
                errors.append(RosterError(first_line, None, "Unknown column" + ("s" if len(unknown) > 1 else "")
                                          + " in the header: " + named
                                          + f". The columns are: {', '.join(COLUMNS)}."))
            if repeated:
                errors.append(RosterError(first_line, None, f"Column given twice in the header: {', '.join(repeated)}."))
            if "email" not in keys:
                errors.append(RosterError(first_line, "email", "The header has no email column."))
            columns = tuple(keys)
    _check_size(records[start:], max_rows, final=True)
    rows, seen = [], {}
    for line, cells in records[start:]:
        row = _row(line, cells, columns, languages=languages, from_xlsx=from_xlsx)
        if row.email and not any(error.column == "email" for error in row.errors):
            if row.email in seen:
                row.errors.append(RosterError(line, "email", f"{row.email} is already on line {seen[row.email]}."))
            else:
                seen[row.email] = line
        rows.append(row)
    if errors:  # a bad header makes every row unreliable
        for row in rows:
            row.errors.insert(0, RosterError(row.line, None, "Not imported: the header is not valid."))
    return Roster(rows=rows, errors=errors, columns=columns)


def _looks_like_email(cell):
    return isinstance(cell, str) and "@" in cell


def _row(line, cells, columns, *, languages, from_xlsx):
    row = RosterRow(line=line, values={}, source=["" if cell is None else cell for cell in cells])
    if isinstance(cells, _Unreadable):
        row.errors.append(RosterError(line, None, f"This line cannot be read: {cells.reason}."))
        return row
    if len(cells) > len(columns):
        extra = [cell for cell in cells[len(columns):] if str(cell if cell is not None else "").strip()]
        if extra:
            row.errors.append(RosterError(line, None, f"Too many fields: {len(cells)} where the roster has "
                                                      f"{len(columns)} columns ({', '.join(columns)})."))
    for name, cell in zip(columns, cells, strict=False):
        if name not in COLUMNS:
            continue
        try:
            value = _value(name, cell, languages=languages, from_xlsx=from_xlsx)
        except ValueError as error:
            row.errors.append(RosterError(line, name, str(error)))
            continue
        if value not in (None, "", []):
            row.values[name] = value
    if "email" not in row.values and not any(error.column == "email" for error in row.errors):
        row.errors.append(RosterError(line, "email", "The email is missing."))
    return row


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
    if name in ("labels", "groups"):
        return _list(cell, name)
    if name == "deactivate_on":
        return _date(cell, from_xlsx=from_xlsx)
    if name == "send_email" and isinstance(cell, bool):
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
    if name == "send_email":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError(f"{text!r} is not 1 or 0 (also true/false, yes/no).")
    if name == "password":
        if len(text) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
        return text
    if name == "language":
        match = next((tag for tag in languages if tag.lower() == text.lower()), None)
        if match is None:
            raise ValueError(f"Unknown language {text!r}; supported: {', '.join(languages)}.")
        return match
    if name == "role":
        if text.lower() not in ROLES:
            raise ValueError(f"Unknown role {text!r}; use admin, manager or learner (also trainee).")
        return ROLES[text.lower()]
    return text


def _date(cell, *, from_xlsx):
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    text = cell_text(cell)
    if not text:
        return None
    try:
        return date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else _day_first(text, from_xlsx)
    except ValueError:
        raise ValueError(f"{text!r} is not a date; write it as YYYY-MM-DD"
                         + (" or DD/MM/YYYY." if from_xlsx else ".")) from None


def _day_first(text, from_xlsx):
    if from_xlsx and re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
        return datetime.strptime(text, "%d/%m/%Y").date()
    raise ValueError(text)


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
