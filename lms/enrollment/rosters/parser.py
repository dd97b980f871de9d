"""Reading a roster (DESIGN §4): pasted text, CSV or XLSX, into rows and line-numbered errors.

Pure: no database. What needs the database (existing users, groups) is checked when the
import is planned (lms.enrollment.rosters.importer). Whatever the input, the result is rows and
errors, never an exception: a malformed line is an error on that line.

A roster is read as a stream (issue 19): `load_roster` reads the records once to find the
header, count the rows and check the limits, and keeps no row; `Roster.iter_rows()` reads
and checks the rows as it yields them, so an import of 200,000 rows holds one batch at a
time. `Roster.rows` is the whole list, for what shows every row (a preview, the tests).
"""
from __future__ import annotations

import csv
import io
import pickle
import re
import tempfile
import weakref
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from lms.accounts.passwords import GENERATE
from lms.enrollment.rosters.headers import LIST_FIELDS, TEMPLATE_FIELDS, field_of, header_key
from lms.enrollment.rosters.layout import (
    HEADER_SEARCH_ROWS,
    SAMPLE_ROWS,
    Layout,
    MappingRefused,
    find_layout,
    holds_roster,
)
from lms.languages import language_tag

COLUMNS = TEMPLATE_FIELDS  # the template's columns, in its order (a roster without a header)
MIN_PASSWORD_LENGTH = 8
MAX_ROWS = 50_000  # what an import takes from the page (its form says so)
MAX_CLI_ROWS = 200_000  # what `lms import` takes, read as a stream
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
KEPT_RECORDS = 20_000  # an XLSX roster up to this many records is kept in memory once read; a longer
#                        one is spooled to a temporary file (a CSV is read again from its text)


class RosterUnreadable(Exception):
    """The file is not a roster this module can read (wrong type, damaged, too big)."""


class RosterTooLarge(RosterUnreadable):
    """The roster has more data rows than an import takes (MAX_ROWS)."""


MAX_FILE_BYTES = 10 * 1024 * 1024
XLSX_MAGIC = b"PK\x03\x04"


def max_bytes_for(max_rows):
    """The largest file taken for a roster of `max_rows` rows: 10 MB for the page's 50,000,
    in proportion above."""
    return max(MAX_FILE_BYTES, MAX_FILE_BYTES * max_rows // MAX_ROWS) if max_rows else MAX_FILE_BYTES


def load_roster(data: bytes, *, filename="", kind="auto", languages, max_rows=MAX_ROWS, mapping=None,
                sheet=None) -> Roster:
    """A roster from a file's bytes: XLSX, or text (CSV or a paste) in UTF-8 or Windows-1252.
    `kind` is auto, paste, csv or xlsx; auto goes by the content. `mapping`: {column: field}
    (lms.enrollment.rosters.layout); `sheet`: the XLSX sheet to read, by name."""
    options = {"languages": languages, "max_rows": max_rows, "mapping": mapping}
    max_bytes = max_bytes_for(max_rows)
    if len(data) > max_bytes:
        raise RosterUnreadable(f"The file is larger than {max_bytes // (1024 * 1024)} MB; "
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


class Roster:
    """A roster read once for its layout, size and header errors; its rows are read from its
    records (`iter_rows`) each time they are asked for, and never all kept unless `rows` is."""

    def __init__(self, *, records, errors, columns, layout, warnings, total_rows, languages, from_xlsx,
                 header_problem=None, hashed_at=()):
        self._records = records  # re-iterable: (line, cells) of every record, header included
        self.errors = errors  # errors about the whole roster (the header), on its line
        self.columns = columns  # the field of each column of the file; None where a column is not imported
        self.layout = layout  # its header, samples and mapping, for the preview's mapping step
        self.warnings = warnings  # what was read otherwise than written: ignored columns...
        self.total_rows = total_rows  # its data rows
        self.sheet = None  # XLSX: the sheet read
        self.sheets = []  # XLSX: every sheet of the workbook
        self._languages, self._from_xlsx = languages, from_xlsx
        self._header_problem = header_problem  # why no row is imported (a bad header), or None
        self._hashed_at = hashed_at  # columns naming a Password Hash Function
        self._rows = None

    @property
    def rows(self) -> list[RosterRow]:
        """Every row, read once and kept (a stream: `iter_rows`)."""
        if self._rows is None:
            self._rows = list(self.iter_rows())
        return self._rows

    def _data_records(self):
        start = self.layout.start if self.layout else 0
        for index, record in enumerate(self._records):
            if index >= start:
                yield record

    def iter_rows(self):
        """The rows, read and checked one at a time, in the file's order; an email or external
        id given again is an error on the later line."""
        if self._rows is not None:
            yield from self._rows
            return
        seen, seen_ids = {}, {}
        for line, cells in self._data_records():
            row = self._row(line, cells)
            for key, earlier in (("email", seen), ("external_id", seen_ids)):
                value = row.values.get(key)
                if value and not any(error.column == key for error in row.errors):
                    if value in earlier:
                        row.errors.append(RosterError(line, key, f"{value} is already on line {earlier[value]}."))
                    else:
                        earlier[value] = line
            if self._header_problem:
                row.errors.insert(0, RosterError(row.line, None, f"Not imported: {self._header_problem}."))
            yield row

    def iter_rows_at(self, wanted):
        """The rows on the lines `wanted(line)` keeps, read again (without the checks across
        rows: these are rows read before, whose errors are known)."""
        for line, cells in self._data_records():
            if wanted(line):
                yield self._row(line, cells)

    def cells_at(self, lines) -> dict:
        """{line: the cells as given} for these lines (one read of the records)."""
        lines = set(lines)
        if self._rows is not None:
            return {row.line: row.source for row in self._rows if row.line in lines}
        return {line: _source(cells) for line, cells in self._data_records() if line in lines}

    def _row(self, line, cells):
        row = _row(line, cells, self.columns, languages=self._languages, from_xlsx=self._from_xlsx)
        # Google Workspace's "Password Hash Function": when a row names one, its password is a hash.
        hash_function = next((cell_text(cells[index]) for index in self._hashed_at
                              if index < len(cells) and cell_text(cells[index])), None)
        if hash_function and row.values.pop("password", None):
            row.errors.append(RosterError(line, "password", f"The password is a {hash_function[:20]} hash (its "
                                          "Password Hash Function says so), which cannot be signed in with; leave "
                                          "it empty to send an invitation instead."))
        return row

    def all_errors(self):
        return sorted(self.errors + [error for row in self.iter_rows() for error in row.errors],
                      key=lambda error: error.line)


def parse_text(text: str, *, languages, max_rows=MAX_ROWS, mapping=None) -> Roster:
    """A paste or a CSV file. The delimiter is a comma unless the text is tab- or
    semicolon-separated (a spreadsheet copy, a European CSV)."""
    text = text.lstrip("\ufeff")
    # Only CR, LF and CRLF end a line (str.splitlines would also break on a vertical tab or
    # U+2028 and shift every line number after it).
    records = _TextRecords(text, _delimiter(_Lines(text)))
    return _roster(records, languages=languages, from_xlsx=False, max_rows=max_rows, mapping=mapping)


LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


class _Lines:
    """The lines of a text, each time iterated (none kept)."""

    def __init__(self, text):
        self._text = text

    def __iter__(self):
        return (match.group() for match in LINE.finditer(self._text))


class _TextRecords:
    """The records of a text roster, read again each time they are iterated; a row of empty
    cells (a spreadsheet's ,,,,) is a blank line."""

    def __init__(self, text, delimiter):
        self._text, self._delimiter = text, delimiter

    def __iter__(self):
        for line_number, cells in _records(self._text, self._delimiter):
            if not isinstance(cells, _Unreadable) and not any(cell.strip() for cell in cells):
                continue
            yield line_number, cells


def _check_size(count, max_rows, *, final=False):
    """Refuse a roster over max_rows data rows; while reading, one more record may be a header."""
    if max_rows is not None and count > max_rows + (0 if final else 1):
        raise RosterTooLarge(f"The roster has more than {max_rows:,} rows; split it into several imports.")


def parse_xlsx(data: bytes, *, languages, max_rows=MAX_ROWS, mapping=None, sheet=None) -> Roster:
    """A sheet of an XLSX workbook: the one named `sheet`, else the first that holds a roster
    (a "Read me" sheet before it is passed); line numbers are the sheet's row numbers. Cells
    may be real dates, numbers and booleans as well as text. The workbook is read once (in
    openpyxl's streaming mode); its records are kept, or spooled to a temporary file when
    there are many, for the passes of an import."""
    from openpyxl import load_workbook

    from lms.enrollment.rosters.workbook import WorkbookRefused, check_workbook

    try:
        check_workbook(data, max_columns=MAX_COLUMNS, max_rows=max_rows)
    except WorkbookRefused as refused:
        raise RosterUnreadable(str(refused)) from None
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        chosen = _sheet_to_read(workbook, sheet)
        records = _KeptRecords()
        count = 0
        for record in _sheet_records(chosen):
            records.append(record)
            count += 1
            _check_size(count, max_rows)
        records.close()
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


class _KeptRecords:
    """Records read once (an XLSX sheet's), to be iterated again: in memory up to
    KEPT_RECORDS, beyond that pickled in chunks to a temporary file, so memory stays flat."""

    CHUNK = 1000

    def __init__(self):
        self._kept, self._file, self._chunks = [], None, []

    def append(self, record):
        self._kept.append(record)
        if len(self._kept) > KEPT_RECORDS or (self._file is not None and len(self._kept) >= self.CHUNK):
            self._spool()

    def _spool(self):
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="lms-roster-")
            weakref.finalize(self, self._file.close)  # and the file is gone with the roster
        for start in range(0, len(self._kept), self.CHUNK):
            chunk = pickle.dumps(self._kept[start:start + self.CHUNK], protocol=pickle.HIGHEST_PROTOCOL)
            self._file.seek(0, io.SEEK_END)
            self._chunks.append((self._file.tell(), len(chunk)))
            self._file.write(chunk)
        self._kept = []

    def close(self):
        """No more records: the last ones go to the file too, if it is used."""
        if self._file is not None and self._kept:
            self._spool()

    def __iter__(self):
        if self._file is None:
            yield from self._kept
            return
        for offset, length in self._chunks:
            self._file.seek(offset)
            yield from pickle.loads(self._file.read(length))


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


def _records(text, delimiter):
    """(1-based line where the record starts, cells) for each record, skipping blank and
    comment lines. A quoted field may span lines; the record keeps its first line's number."""
    tracker = _LineTracker(text)

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
    """Feeds csv.reader the lines of the text, one at a time, and notes the line each record
    starts on."""

    def __init__(self, text):
        self._text = text
        self._lines = LINE.finditer(text)
        self._number = 0  # the line last read
        self.record_start = None
        self.record_chars = 0
        self._after_start = 0  # where the line after the record's first line begins

    def restart_after(self, line_number):
        """Read on from the line after `line_number`, the current record's first line (a record
        too long, most likely an unclosed quote: the lines it took in are read again as records
        of their own)."""
        assert line_number == self.record_start
        self._lines = LINE.finditer(self._text, self._after_start)
        self._number = line_number
        self.record_start = None

    def __iter__(self):
        return self

    def __next__(self):
        for match in self._lines:
            self._number += 1
            line = match.group()
            if self.record_start is None:
                stripped = line.strip()
                if not stripped or stripped.startswith("#"):
                    continue
                self.record_start = self._number
                self.record_chars = 0
                self._after_start = match.end()
            self.record_chars += len(line)
            if self.record_chars > MAX_LINE_CHARS:
                raise _LineTooLong()
            return line
        raise StopIteration


HEAD_RECORDS = HEADER_SEARCH_ROWS + SAMPLE_ROWS  # all that find_layout looks at


def _roster(records, *, languages, from_xlsx, max_rows, mapping=None):
    """The roster of these records (re-iterable), read once here: its layout from the first
    records, its size, and whether full names are split (said in its warnings)."""
    head, count = [], 0
    iterator = iter(records)
    for record in iterator:
        head.append(record)
        count += 1
        _check_size(count, max_rows)
        if len(head) == HEAD_RECORDS:
            break
    errors = []
    if head and isinstance(head[0][1], _Unreadable):  # the header, or a first row: either way unsafe
        first_line, first_cells = head[0]
        errors.append(RosterError(first_line, None, f"The first line cannot be read: {first_cells.reason}."))
        layout = Layout(fields=list(COLUMNS))
    else:
        try:
            layout = find_layout(head, mapping=mapping, unreadable=lambda cells: isinstance(cells, _Unreadable))
        except MappingRefused as refused:
            raise RosterUnreadable(str(refused)) from None
        errors += [RosterError(line, column, message) for line, column, message in layout.problems]
    fields = tuple(layout.fields)
    splits = _full_name_splitter(fields)
    split_names = any(splits(cells) for _, cells in head[layout.start:])
    for _, cells in iterator:
        count += 1
        _check_size(count, max_rows)
        split_names = split_names or splits(cells)
    total = count - layout.start
    _check_size(total, max_rows, final=True)
    header_problem = None
    if errors:  # a bad header (or columns read by position in the wrong place) makes every row unreliable
        header_problem = ("the header is not valid" if layout.header_line is not None or layout.problems == []
                          else f"its columns cannot be read by position (line {errors[0].line})")
    warnings = list(layout.warnings)
    if split_names:
        names = [layout.titles[index] for index, held in enumerate(fields) if held == "full_name"]
        warnings.append(f"First and last names were taken from the column “{names[0]}” "
                        "(its last word as the last name).")
    hashed_at = tuple(index for index, name in enumerate(layout.names) if header_key(name) == "passwordhashfunction")
    return Roster(records=records, errors=errors, columns=fields, layout=layout, warnings=warnings, total_rows=total,
                  languages=languages, from_xlsx=from_xlsx, header_problem=header_problem, hashed_at=hashed_at)


def _full_name_splitter(fields):
    """cells -> whether the row's first and last names will be taken from its full name (as
    _derived does), from the cells alone: a full name, and no first or last name, that a row
    would keep."""
    at = {name: [index for index, held in enumerate(fields) if held == name]
          for name in ("full_name", "first_name", "last_name")}
    if not at["full_name"]:
        return lambda cells: False

    def kept(cells, name):
        limit = MAX_FIELD_LENGTH[name]
        return any(index < len(cells) and 0 < len(cell_text(cells[index])) <= limit for index in at[name])

    def splits(cells):
        if isinstance(cells, _Unreadable):
            return False
        return kept(cells, "full_name") and not kept(cells, "first_name") and not kept(cells, "last_name")

    return splits


def _source(cells):
    return ["" if cell is None else cell for cell in cells]


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
        return normalized_email(text)
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


def normalized_email(text):
    """The address as stored (email_validator's normalized form, lower-cased), or ValueError
    saying why it is not one. A plain address (ASCII dot-atom before the @, a plain ASCII
    domain) is checked here and its domain once per import: email_validator's answer for it
    is the same (tests/enrollment/test_import_at_scale.py compares them), at a tenth of the
    cost, which was most of the time spent reading a roster."""
    local, at, domain = text.rpartition("@")
    if at and len(text) <= EMAIL_FAST_MAX_LENGTH and _PLAIN_LOCAL.match(local) and _PLAIN_DOMAIN.match(domain):
        checked = _checked_domain(domain)
        if checked:
            return f"{local}@{checked}".lower()
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise ValueError(f"{text!r} is not a valid email address: {error}") from None


EMAIL_FAST_MAX_LENGTH = 254  # email_validator's limit on the whole address: at most this, nothing else to check
_ATEXT = r"a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~"
_PLAIN_LOCAL = re.compile(f"[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*\\Z")  # RFC 5322 dot-atom, as email_validator's
_PLAIN_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\Z")


@lru_cache(maxsize=4096)
def _checked_domain(domain):
    """The domain as email_validator normalizes it, if it takes it and leaves it as it is
    (a plain ASCII name, no IDNA), else None (the whole address is then checked by it)."""
    try:
        normalized = validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None
    return normalized if normalized == domain.lower() else None


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
