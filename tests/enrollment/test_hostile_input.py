"""Inputs built to exhaust the server (the security review's findings 4-6): each is refused with
a sentence saying what is wrong, within 2 s and 100 MB of extra memory, whoever sends it."""
import io
import time
import tracemalloc
import zipfile

import pytest
from openpyxl import Workbook

from lms.enrollment.invitations.services import parse_email_list
from lms.enrollment.rosters.parser import MAX_COLUMNS, MAX_LINE_CHARS, RosterUnreadable, load_roster
from lms.errors import DomainError

LANGUAGES = ["en", "fr", "nl"]
SECONDS, MEGABYTES = 2.0, 100


def bounded(run, seconds=SECONDS, megabytes=MEGABYTES):
    """`run()` takes less than `seconds` of wall time and allocates at most `megabytes` more than
    it found (Python's allocations, as tracemalloc sees them); returns what it returned. Timed
    and traced in two runs: tracing every allocation slows the code it watches several times."""
    start = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    try:
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    assert peak < megabytes * 2**20, f"peaked at {peak / 2**20:.0f} MB"
    return result


def refusal(exception, call):
    """A run that expects `call()` to raise `exception`, and returns it."""
    def run():
        with pytest.raises(exception) as raised:
            call()
        return raised.value
    return run


# --- a roster header of many columns (finding 4) -------------------------------------------

@pytest.mark.parametrize("columns, reason", [
    (20_000, f"it has 20,001 fields; a roster has at most {MAX_COLUMNS} columns"),  # 40 KB
    (100_000, f"it is longer than {MAX_LINE_CHARS:,} characters"),  # 200 KB
])
def test_a_header_of_many_columns_is_refused_at_once(columns, reason):
    header = ",".join(["email"] + ["x"] * columns)

    roster = bounded(lambda: load_roster((header + "\nperson@example.com\n").encode(), languages=LANGUAGES))

    (error,) = roster.errors
    assert error.message == f"The first line cannot be read: {reason}."
    assert all("Not imported: the header is not valid." in [e.message for e in row.errors] for row in roster.rows)


def test_a_header_of_many_unknown_columns_names_twenty_of_them():
    header = ",".join(["email"] + [f"extra{number}" for number in range(150)])

    roster = bounded(lambda: load_roster((header + "\nperson@example.com\n").encode(), languages=LANGUAGES))

    assert roster.errors == []
    (warning,) = roster.warnings
    assert warning.startswith("Columns not imported (no field of a roster): “extra0”, “extra1”,")
    assert "“extra19” and 130 more." in warning


def test_a_line_longer_than_the_limit_is_an_error_on_that_line_only():
    long_line = "Doe, Jane, jane@example.com, " + "x" * (MAX_LINE_CHARS + 10)
    text = f"Last, First, first@example.com\n{long_line}\nNext, Ned, ned@example.com\n"

    roster = bounded(lambda: load_roster(text.encode(), languages=LANGUAGES))

    assert [row.email for row in roster.rows if not row.errors] == ["first@example.com", "ned@example.com"]
    (bad,) = [row for row in roster.rows if row.errors]
    assert (bad.line, bad.errors[0].message) == (
        2, f"This line cannot be read: it is longer than {MAX_LINE_CHARS:,} characters.")


def test_an_unclosed_quote_does_not_swallow_the_rest_of_the_roster():
    rows = "\n".join(f"Last{n}, First{n}, person{n}@example.com" for n in range(3000))
    text = 'First, Fay, fay@example.com\nDoe, "Jane, jane@example.com\n' + rows + "\n"

    roster = bounded(lambda: load_roster(text.encode(), languages=LANGUAGES))

    assert roster.rows[0].errors == []
    assert roster.rows[1].errors[0].message.startswith("This line cannot be read: it is longer than")
    assert sum(1 for row in roster.rows if not row.errors) == 3001  # the lines it took in, read again


# --- the invite box (finding 5) ------------------------------------------------------------

@pytest.mark.parametrize("count", [5_000, 200_000])
def test_an_invite_box_over_1000_addresses_is_refused_before_any_is_checked(count):
    text = " ".join(f"person{number}@example.com" for number in range(count))

    refused = bounded(refusal(DomainError, lambda: parse_email_list(text)))

    assert refused.message == f"At most 1,000 addresses at once; this list has {count:,}."


def test_a_trainer_pasting_5000_addresses_gets_the_message_on_the_page(manager_client):
    text = ", ".join(f"person{number}@example.com" for number in range(5000))

    response = bounded(  # the page's own work (sign-in, template) on top
        lambda: manager_client.post("/admin/invite", data={"emails": text, "role": "learner", "language": "en"}),
        seconds=SECONDS + 1)

    assert response.status_code == 422
    assert "At most 1,000 addresses at once; this list has 5,000." in response.get_data(as_text=True)


def test_names_and_brackets_still_give_the_addresses_in_one_pass():
    text = 'James Smith <james@example.com>, "Léa Martin" <lea@example.com>; ann@example.com bob@example.com'

    assert parse_email_list(text).emails == ["james@example.com", "lea@example.com", "ann@example.com",
                                             "bob@example.com"]
    bounded(lambda: parse_email_list("a" * 200_000 + "<"))  # one long entry: linear, not quadratic


# --- XLSX decompression bombs (finding 6) --------------------------------------------------

def workbook_with(**parts):
    """A real workbook (openpyxl's, one sheet with a header row) with some parts replaced or
    added; a part's value is bytes, or an iterable of byte chunks written as they come."""
    book = Workbook()
    book.active.append(["email", "first_name"])
    book.active.append(["jane@example.com", "Jane"])
    original = io.BytesIO()
    book.save(original)
    out = io.BytesIO()
    with zipfile.ZipFile(original) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename not in parts:
                target.writestr(item, source.read(item))
        for name, content in parts.items():
            with target.open(name, "w", force_zip64=True) as stream:
                for chunk in ([content] if isinstance(content, bytes) else content):
                    stream.write(chunk)
    return out.getvalue()


SHEET = "xl/worksheets/sheet1.xml"
SHEET_START = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
               b'spreadsheetml/2006/main"><sheetData>')
SHEET_END = b"</sheetData></worksheet>"


def inline_row(number, *cells):
    return (f'<row r="{number}">' + "".join(f'<c r="{ref}{number}" t="inlineStr"><is><t>{text}</t></is></c>'
                                            for ref, text in cells) + "</row>").encode()


def refused(data):
    return str(bounded(refusal(RosterUnreadable, lambda: load_roster(data, filename="bomb.xlsx",
                                                                     languages=LANGUAGES))))


def one_cell_of(megabytes):
    """A sheet whose one cell holds `megabytes` of text, written as it is compressed."""
    yield SHEET_START + b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
    for _ in range(megabytes):
        yield b"A" * 2**20
    yield b"</t></is></c></row>" + SHEET_END


def test_a_cell_that_expands_to_200_mb_is_refused():
    data = workbook_with(**{SHEET: one_cell_of(200)})
    assert len(data) < 400_000  # a few hundred kilobytes on the wire

    assert refused(data) == "The part xl/worksheets/sheet1.xml of the workbook expands to 200 MB (at most 64 MB)."


def test_a_long_shared_string_within_the_size_limits_is_refused_while_streaming():
    strings = (b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
               b'spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>' + b"B" * 20 * 2**20 + b"</t></si></sst>")

    assert refused(workbook_with(**{"xl/sharedStrings.xml": strings})) == (
        "A cell of the workbook holds more text than a spreadsheet cell can (32,767 characters).")


def test_cells_far_to_the_right_are_refused_before_openpyxl_pads_every_row_to_them():
    def sheet():
        yield SHEET_START
        for number in range(1, 50_001):
            yield inline_row(number, ("A", f"p{number}@example.com"), ("XFD", "x"))
        yield SHEET_END

    assert refused(workbook_with(**{SHEET: sheet()})) == (
        f"The sheet has cells in column XFD; a roster has at most {MAX_COLUMNS} columns. "
        "Delete the columns after the data.")


def test_a_million_rows_without_a_dimension_are_refused_at_once():
    def sheet():
        yield SHEET_START + inline_row(1, ("A", "email"))
        for start in range(2, 1_048_577, 10_000):
            yield b"".join(f'<row r="{n}"/>'.encode() for n in range(start, min(start + 10_000, 1_048_577)))
        yield SHEET_END

    assert refused(workbook_with(**{SHEET: sheet()})).startswith("The sheet has rows beyond row 99,999")


def test_one_row_far_down_is_refused_rather_than_padded_with_a_million_empty_ones():
    sheet = SHEET_START + inline_row(1, ("A", "email")) + inline_row(1_048_576, ("A", "x@example.com")) + SHEET_END

    assert refused(workbook_with(**{SHEET: sheet})).startswith("The sheet has rows beyond row 99,999")


def test_a_sheet_claiming_a_huge_dimension_is_read_as_the_cells_it_has():
    sheet = (SHEET_START.replace(b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>')
             + inline_row(1, ("A", "email"), ("B", "first_name")) + inline_row(2, ("A", "jane@example.com"), ("B", "Jane"))
             + SHEET_END)

    roster = bounded(lambda: load_roster(workbook_with(**{SHEET: sheet}), filename="big.xlsx", languages=LANGUAGES))

    assert [(row.email, row.values.get("first_name"), row.errors) for row in roster.rows] == [
        ("jane@example.com", "Jane", [])]


def test_xml_entities_are_refused():
    sheet = (b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
             + SHEET_START.split(b"?>", 1)[1] + inline_row(1, ("A", "&lol2;")) + SHEET_END)

    assert refused(workbook_with(**{SHEET: sheet})) == (
        "The workbook declares XML entities, which no spreadsheet program writes.")


def test_an_upload_of_a_bomb_gets_the_message_on_the_import_page(admin_client):
    data = workbook_with(**{SHEET: one_cell_of(100)})
    response = bounded(lambda: admin_client.post("/admin/imports/new", data={
        "file": (io.BytesIO(data), "bomb.xlsx"), "mode": "create", "language": "en", "role": "learner"},
        content_type="multipart/form-data"), seconds=SECONDS + 1)

    assert response.status_code == 422
    assert "expands to 100 MB (at most 64 MB)" in response.get_data(as_text=True)


def test_a_roster_of_unclosed_quotes_is_refused_whole_in_bounded_time():
    line = "no quote here, none@example.com, " + "x" * 70
    block = '"open\n' + "\n".join([line] * 1100)  # 114 KB without a quote
    text = "\n".join([block] * 25)  # 25 quotes that nothing closes, 27,525 lines

    refused = bounded(refusal(RosterUnreadable, lambda: load_roster(text.encode(), languages=LANGUAGES)))

    assert "More than 20 lines of this roster are longer than 100,000 characters (an unclosed quote?)" in str(
        refused)
