"""Checking an XLSX workbook before openpyxl reads it: bounded work and memory whatever the file.

An XLSX file is a zip of XML parts, and a few hundred kilobytes can expand to gigabytes: one
cell of 200 MB, a sheet whose cells sit in column XFD (openpyxl pads every row to it), a million
empty rows. `check_workbook` streams every part once, a megabyte at a time, and refuses the
file at the first limit it passes, with a sentence that says which. What passes is no bigger
than the largest roster an import takes (MAX_ROWS rows of a few dozen columns); the limits
below are those of the page's 50,000 rows, and grow in proportion for a larger import
(`lms import` takes 200,000).
"""
import io
import re
import zipfile

MAX_PARTS = 1_000
MAX_EXPANDED_BYTES = 128 * 1024 * 1024  # all parts together, uncompressed
MAX_SHEET_BYTES = 64 * 1024 * 1024
MAX_SHARED_STRINGS_BYTES = 24 * 1024 * 1024  # openpyxl holds the shared strings in memory
MAX_OTHER_PART_BYTES = 8 * 1024 * 1024  # styles, workbook, relationships: read whole by openpyxl
MAX_SHARED_STRINGS = 600_000
MAX_ROW_NUMBER = 99_999  # rows beyond it (or more rows than it) are refused
MAX_CELLS = 1_000_000
MAX_TEXT_BYTES = 4 * 32_767  # Excel's limit per cell is 32,767 characters (up to 4 bytes each)
CHUNK = 1024 * 1024
ROWS = 50_000  # the rows the limits above are for


class _Limits:
    """The limits for a roster of `max_rows` rows: the ones above, scaled from ROWS."""

    def __init__(self, max_rows):
        scale = max(1, -(-(max_rows or ROWS) // ROWS))
        self.rows = ROWS * scale
        self.expanded_bytes = MAX_EXPANDED_BYTES * scale
        self.sheet_bytes = MAX_SHEET_BYTES * scale
        self.shared_strings_bytes = MAX_SHARED_STRINGS_BYTES * scale
        self.shared_strings = MAX_SHARED_STRINGS * scale
        self.row_number = (MAX_ROW_NUMBER + 1) * scale - 1
        self.cells = MAX_CELLS * scale


_ROW = re.compile(rb"<(?:\w+:)?row[\s>/]")
_CELL = re.compile(rb"<(?:\w+:)?c[\s>/]")
_SHARED_STRING = re.compile(rb"<(?:\w+:)?si[\s>/]")
_FAR_ROW = re.compile(rb"<(?:\w+:)?row\b[^>]*?\sr=\"(\d{%d,})\"" % len(str(MAX_ROW_NUMBER + 1)))
_FAR_COLUMN = re.compile(rb"<(?:\w+:)?c\b[^>]*?\sr=\"([A-Z]{2,})\d+\"")
_LONG_TEXT = re.compile(rb"[^<]{%d}" % (MAX_TEXT_BYTES + 1))


class WorkbookRefused(Exception):
    """The workbook passes a limit; the message says which, for the person who uploaded it."""


def check_workbook(data: bytes, *, max_columns, max_rows=ROWS):
    limits = _Limits(max_rows)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip: openpyxl says it cannot read it
    with archive:
        parts = archive.infolist()
        if len(parts) > MAX_PARTS:
            raise WorkbookRefused(f"The workbook has {len(parts):,} parts; a roster has a few dozen.")
        for part in parts:
            limit = _limit_of(part.filename, limits)
            if part.file_size > limit:
                raise WorkbookRefused(f"The part {part.filename} of the workbook expands to "
                                      f"{part.file_size / 2**20:,.0f} MB (at most {limit // 2**20} MB).")
        if sum(part.file_size for part in parts) > limits.expanded_bytes:
            raise WorkbookRefused(f"The workbook expands to more than {limits.expanded_bytes // 2**20} MB; "
                                  f"a roster of {limits.rows:,} rows is far smaller. Save it again, or split it.")
        for part in parts:
            _check_part(archive, part, max_columns, limits)


def _limit_of(name, limits):
    if name.startswith("xl/worksheets/"):
        return limits.sheet_bytes
    if name == "xl/sharedStrings.xml":
        return limits.shared_strings_bytes
    return MAX_OTHER_PART_BYTES


def _check_part(archive, part, max_columns, limits):
    limit = _limit_of(part.filename, limits)
    scan = _SheetScan(max_columns, limits) if part.filename.startswith("xl/worksheets/") else \
        _SharedStringsScan(limits) if part.filename == "xl/sharedStrings.xml" else None
    read, carry, first = 0, b"", True
    try:
        with archive.open(part) as stream:
            while chunk := stream.read(CHUNK):
                read += len(chunk)
                if read > limit:  # zipfile stops at the declared size; never trust it alone
                    raise WorkbookRefused(f"The part {part.filename} of the workbook is larger than it says.")
                text = carry + chunk
                if (first and b"<!DOCTYPE" in text[:4096].upper()) or b"<!ENTITY" in text:
                    raise WorkbookRefused("The workbook declares XML entities, which no spreadsheet program writes.")
                first = False
                if _LONG_TEXT.search(text):
                    raise WorkbookRefused("A cell of the workbook holds more text than a spreadsheet cell can "
                                          "(32,767 characters).")
                cut = text.rfind(b"<")  # scan whole tags; the rest waits for the next chunk
                cut = len(text) if cut == -1 else cut
                if scan is not None:
                    scan.feed(text[:cut])
                carry = text[cut:]
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
        return  # damaged or encrypted: openpyxl refuses it with its own message
    if scan is not None:
        scan.feed(carry)


class _SheetScan:
    def __init__(self, max_columns, limits):
        self.max_columns, self.limits = max_columns, limits
        self.rows = self.cells = 0

    def feed(self, text):
        limits = self.limits
        self.rows += len(_ROW.findall(text))
        self.cells += len(_CELL.findall(text))
        if limits.row_number == MAX_ROW_NUMBER:  # any number of that many digits is beyond it
            far_row = _FAR_ROW.search(text) is not None
        else:
            far_row = any(int(number) > limits.row_number for number in _FAR_ROW.findall(text))
        if far_row or self.rows > limits.row_number:
            raise WorkbookRefused(f"The sheet has rows beyond row {limits.row_number:,}; a roster has at most "
                                  f"{limits.rows:,}. Delete the empty rows below the data, or split the roster.")
        if self.cells > limits.cells:
            raise WorkbookRefused(f"The sheet has more than {limits.cells:,} cells; split the roster.")
        for letters in _FAR_COLUMN.findall(text):
            if _column_number(letters) > self.max_columns:
                raise WorkbookRefused(f"The sheet has cells in column {letters.decode()}; a roster has at most "
                                      f"{self.max_columns} columns. Delete the columns after the data.")


class _SharedStringsScan:
    def __init__(self, limits):
        self.limits = limits
        self.strings = 0

    def feed(self, text):
        self.strings += len(_SHARED_STRING.findall(text))
        if self.strings > self.limits.shared_strings:
            raise WorkbookRefused(f"The workbook holds more than {self.limits.shared_strings:,} distinct texts; "
                                  "split the roster.")


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + (letter - ord("A") + 1)
    return number
