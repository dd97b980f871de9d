"""The "Set multiple accounts" pages (DESIGN §4): paste or upload a roster, read its preview,
import it as a background job and read the job's progress and report; the XLSX template, the
rejected rows as CSV, past imports, and the drafts nobody imported.

The views use the real clock; the tests run the queued jobs themselves with the `now` fixture
(LMS_IMPORT_IN_BACKGROUND is off in tests), except the one that checks the thread the page uses.
"""
import csv
import io
import json
import re
from datetime import datetime, timedelta
from html import unescape

from openpyxl import Workbook, load_workbook
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from lms.accounts.models import Role, User, UserStatus
from lms.due_work import run_due
from lms.enrollment.groups.models import Group
from lms.enrollment.groups.services import delete_group, group_names_by_user
from lms.enrollment.rosters import importer as roster_import
from lms.enrollment.rosters import jobs as import_jobs
from lms.enrollment.rosters.jobs import run_import_job, run_import_job_in_thread
from lms.enrollment.rosters.models import ImportJob, ImportJobStatus
from lms.enrollment.rosters.parser import COLUMNS, parse_text
from lms.extensions import db
from lms.notifications.models import OutboxEmail
from tests.conftest import count, htmx_headers, user_of
from tests.pages import field_error, flashes, text, utcnow, visible

LANGUAGES = ["en", "fr", "nl"]
JAMES = "Smith, James, james.smith@example.com, France | North, 1, apozeiru, en, Professional Photographer"
LEA = "Martin, Léa, lea.martin@example.com, north | Alpha, 1, , fr, Designer, Sales Team"
OPTIONS = {"mode": "create", "language": "en", "role": "learner", "send_email": "y"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- helpers ------------------------------------------------------------------------------


def preview(client, roster=None, *, file=None, headers=None, **options):
    """Press Preview on the import form: `roster` is pasted, `file` is (bytes, filename);
    options override the form's defaults (None leaves a field out, as an unticked box)."""
    data = {key: value for key, value in {**OPTIONS, **options}.items() if value is not None}
    if roster is not None:
        data["roster"] = roster
    if file is not None:
        content, filename = file
        data["file"] = FileStorage(io.BytesIO(content), filename=filename)
    # Encoded in memory: the test client would spool a large body to a temporary file it never closes.
    boundary, body = encode_multipart(data)
    return client.post("/admin/imports/new", data=body, headers=headers or {},
                       content_type=f"multipart/form-data; boundary={boundary}")


def draft_of(response):
    """The id of the draft a Preview redirected to."""
    assert response.status_code == 303, text(response)
    return int(re.fullmatch(r"/admin/imports/(\d+)", response.headers["Location"]).group(1))


def previewed(client, roster=None, **kwargs):
    """Preview a roster and return (draft id, the preview page's HTML)."""
    job_id = draft_of(preview(client, roster, **kwargs))
    return job_id, text(client.get(f"/admin/imports/{job_id}"))


def start(client, job_id, **kwargs):
    return client.post(f"/admin/imports/{job_id}/start", **kwargs)


def imported(client, job_id, now):
    """Press Import on a draft and run the queued job as the background thread would."""
    assert start(client, job_id).status_code == 303
    assert run_import_job(job_id, now=now) is not None
    return text(client.get(f"/admin/imports/{job_id}"))


def preview_rows(html):
    """The preview table's rows: {"line", "action", column: value}, where a value is the
    cell's text without its notes, and "notes" maps each column to its notes (errors, "(changes)")."""
    table = re.search(r'<table class="stack preview-rows">(.*?)</table>', html, re.S)
    if table is None:
        return []
    rows = []
    for row_html in re.findall(r"<tr\b[^>]*>(.*?)</tr>", table.group(1).split("<tbody>")[1], re.S):
        row, notes = {}, {}
        for label, cell in re.findall(r'<td data-label="([^"]*)"[^>]*>(.*?)</td>', row_html, re.S):
            notes[label] = [visible(note) for note in re.findall(r"<small\b[^>]*>(.*?)</small>", cell, re.S)]
            row[label] = visible(re.sub(r"<small\b.*?</small>", "", cell, flags=re.S))
        row["line"], row["action"], row["notes"] = int(row.pop("Line")), row.pop("Action"), notes
        rows.append(row)
    return rows


def lines(html):
    return [row["line"] for row in preview_rows(html)]


def report(html):
    """The report's figures: {"Created": 2, ...}."""
    table = re.search(r'<table class="report-counts">(.*?)</table>', html, re.S).group(1)
    return {visible(name): int(visible(value).replace(",", ""))
            for name, value in re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', table, re.S)}


def has_import_button(html):
    return re.search(r'action="/admin/imports/\d+/start"', html) is not None


def is_checked(html, name, value=None):
    """Whether the checkbox or radio `name` (with this value) is ticked."""
    for tag in re.findall(rf'<input\b[^>]*\bname="{name}"[^>]*>', html):
        if value is None or f'value="{value}"' in tag:
            return re.search(r"\bchecked\b", tag) is not None
    raise AssertionError(f"no input {name}={value}")


def selected(html, name):
    select_html = re.search(rf'<select\b[^>]*\bname="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    [value] = [re.search(r'value="([^"]*)"', option).group(1)
               for option in re.findall(r"<option\b[^>]*>", select_html) if re.search(r"\bselected\b", option)]
    return value


def textarea(html, name):
    return unescape(re.search(rf'<textarea\b[^>]*\bname="{name}"[^>]*>(.*?)</textarea>', html, re.S).group(1)).strip()


def job_of(job_id):
    db.session.expire_all()
    return db.session.get(ImportJob, job_id)


def groups_of(person):
    return sorted(group_names_by_user([person.id]).get(person.id, []))


def emails_to(address):
    db.session.expire_all()
    return db.session.scalars(select(OutboxEmail.kind).where(OutboxEmail.recipient == address)).all()


def workbook(rows):
    """An XLSX file whose first sheet has `rows`, each {sheet row number: [cells]}."""
    book = Workbook()
    sheet = book.active
    for number, cells in rows.items():
        for column, value in enumerate(cells, start=1):
            if value is not None:
                sheet.cell(row=number, column=column, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_records(data):
    """A downloaded CSV's records, comment lines left out."""
    return [record for record in csv.reader(io.StringIO(data)) if record and not record[0].startswith("#")]


def a_future_day(now, days=60):
    """A day after today by both the views' real clock and the tests' clock."""
    return max(utcnow(), now).date() + timedelta(days=days)


# --- the whole path ---------------------------------------------------------------------


def test_the_two_example_lines_are_previewed_then_imported_with_labels_language_info_and_groups(
        admin_client, make_group, now):
    sales = make_group("Sales Team")

    job_id, page = previewed(admin_client, JAMES + "\n" + LEA)

    assert [(row["line"], row["action"], row["email"]) for row in preview_rows(page)] == [
        (1, "Create", "james.smith@example.com"), (2, "Create", "lea.martin@example.com")]
    assert "Import 2 rows" in visible(page) and has_import_button(page)
    assert "Nothing has been written yet" in visible(page)
    assert count(User) == 1  # the admin: nothing is written before Import

    page = imported(admin_client, job_id, now)

    james, lea = user_of("james.smith@example.com"), user_of("lea.martin@example.com")
    assert (james.last_name, james.first_name, james.language) == ("Smith", "James", "en")
    assert james.labels == ["France", "North"] and james.additional_info == "Professional Photographer"
    assert james.status == UserStatus.active  # the row gives a password
    assert (lea.first_name, lea.language, lea.additional_info) == ("Léa", "fr", "Designer")
    assert lea.labels == ["Alpha", "north"]  # sorted case-insensitively
    assert lea.status == UserStatus.invited and groups_of(lea) == [sales.name] and groups_of(james) == []
    assert report(page)["Created"] == 2 and report(page)["Rejected"] == 0
    assert report(page)["Emails queued"] == 2


def test_an_htmx_preview_is_answered_with_a_redirect_header(admin_client):
    response = preview(admin_client, JAMES, headers=htmx_headers("import-form"))

    assert response.status_code == 204
    job_id = int(re.fullmatch(r"/admin/imports/(\d+)", response.headers["HX-Redirect"]).group(1))
    assert job_of(job_id).status == ImportJobStatus.draft


def test_the_progress_bar_moves_through_checking_then_importing_and_polls_until_the_report(
        admin_client, monkeypatch, now):
    monkeypatch.setattr(roster_import, "BATCH_SIZE", 2)
    job_id, _ = previewed(admin_client, "\n".join(f"Last{n}, First{n}, p{n}@example.com" for n in range(5)))
    assert start(admin_client, job_id).status_code == 303
    url = f"/admin/imports/{job_id}"

    page = text(admin_client.get(url))
    assert "0 / 5 rows checked" in visible(page) and '<progress value="0" max="10"' in page and "<html" in page
    assert "Waiting to start" in visible(page)

    during = []
    original = import_jobs.run_import

    def run_import_watched(*args, progress, checked, **kwargs):
        def look():
            during.append(text(admin_client.get(url, headers=htmx_headers("import-progress"))))

        def watched_checked(rows):
            checked(rows)
            look()

        def watched_progress(done, report_so_far):
            progress(done, report_so_far)
            look()

        return original(*args, progress=watched_progress, checked=watched_checked, **kwargs)

    monkeypatch.setattr(import_jobs, "run_import", run_import_watched)
    run_import_job(job_id, now=now)

    bars = [int(re.search(r'<progress value="(\d+)" max="10"', fragment).group(1)) for fragment in during]
    assert bars == [2, 4, 5, 7, 9, 10]  # 5 rows checked, then 5 written, by 2
    assert "Step 1 of 2: checking the rows" in visible(during[0]) and "2 / 5 rows checked" in visible(during[0])
    assert "Step 2 of 2: importing" in visible(during[3]) and "2 / 5 rows imported" in visible(during[3])
    first = during[0]
    assert "<html" not in first and first.lstrip().startswith('<section id="import-progress"')
    assert 'hx-trigger="load delay:500ms"' in first and f'hx-get="{url}"' in first
    done = text(admin_client.get(url, headers=htmx_headers("import-progress")))
    progress_section = done.split('<section id="import-people"')[0]  # the people come out of band, with their tabs
    assert "<html" not in done and "hx-trigger" not in progress_section and "hx-get" not in progress_section
    assert "Report" in visible(done) and report(done)["Created"] == 5


# --- XLSX -------------------------------------------------------------------------------


def test_an_xlsx_upload_reads_date_number_and_boolean_cells(admin_client, now):
    leaves = a_future_day(now, 90)
    data = workbook({
        1: ["email", "first_name", "send_email", "deactivate_on", "password"],
        2: ["ann@example.com", "Ann", 0, datetime.combine(leaves, datetime.min.time()), 12345678],
        3: ["bob@example.com", "Bob", True, None, None],
        4: ["cid@example.com", "Cid", 1],
    })

    job_id, page = previewed(admin_client, file=(data, "people.xlsx"))

    ann, bob, cid = preview_rows(page)
    assert [(row["line"], row["action"]) for row in (ann, bob, cid)] == [(2, "Create"), (3, "Create"), (4, "Create")]
    assert (ann["send_email"], ann["deactivate_on"], ann["password"]) == ("no", leaves.isoformat(), "••••••")
    assert "12345678" not in page
    assert bob["send_email"] == "yes" and cid["send_email"] == "yes"
    assert "people.xlsx" in visible(page)

    imported(admin_client, job_id, now)

    ann = user_of("ann@example.com")
    assert ann.deactivate_on == leaves and ann.status == UserStatus.active and emails_to("ann@example.com") == []
    assert emails_to("bob@example.com") == ["invitation"]


def test_an_error_in_an_xlsx_row_gives_the_sheet_row_number_past_blank_rows(admin_client):
    data = workbook({
        1: ["email", "language"],
        2: ["ann@example.com", "en"],
        5: ["bob@example.com", "klingon"],
    })

    _, page = previewed(admin_client, file=(data, "people.xlsx"))

    rows = preview_rows(page)
    assert [(row["line"], row["action"]) for row in rows] == [(2, "Create"), (5, "Error")]
    assert rows[1]["notes"]["language"] == [
        "Unknown language 'klingon'; supported: en, fr, nl (and their regional forms, such as nl-BE)."]


def test_the_template_examples_are_not_imported_until_their_hash_is_removed(admin_client):
    response = admin_client.get("/admin/imports/template.xlsx")

    assert response.status_code == 200 and response.mimetype == XLSX
    assert 'filename="accounts-template.xlsx"' in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["Accounts", "Instructions"]
    sheet = book["Accounts"]
    assert [cell.value for cell in sheet[1]] == list(COLUMNS)
    lists = {str(validation.sqref).split(":")[0][0]: validation.formula1
             for validation in sheet.data_validations.dataValidation if validation.type == "list"}
    letter = {name: "ABCDEFGHIJK"[COLUMNS.index(name)] for name in ("language", "role", "send_email")}
    assert lists == {letter["language"]: '"en,fr,nl"', letter["role"]: '"learner,manager,admin"',
                     letter["send_email"]: '"1,0"'}

    unchanged = preview(admin_client, file=(response.data, "accounts-template.xlsx"))
    assert unchanged.status_code == 422
    assert field_error(text(unchanged), "file") == ("accounts-template.xlsx has no rows to import "
                                                    "(only a header, blank or comment lines).")

    for row in (2, 3):
        sheet.cell(row=row, column=1).value = sheet.cell(row=row, column=1).value.lstrip("# ")
    filled = io.BytesIO()
    book.save(filled)
    _, page = previewed(admin_client, file=(filled.getvalue(), "accounts.xlsx"))

    assert [(row["email"], row["action"]) for row in preview_rows(page)] == [
        ("james.smith@example.com", "Create"), ("lea.martin@example.com", "Create")]
    assert "No errors" in visible(page) and "Import 2 rows" in visible(page)


# --- errors and the rejected rows -----------------------------------------------------------

ROSTER_WITH_ERRORS = "\n".join([
    "Good, Row, good@example.com",
    'Bad, Email, not-an-email, , 1, secret-pass-123, , =HYPERLINK("x")',
    "Short, Pass, short@example.com, , 1, abc",
])


def test_errors_are_shown_in_the_cell_they_concern_with_their_line(admin_client):
    _, page = previewed(admin_client, ROSTER_WITH_ERRORS)

    rows = preview_rows(page)
    assert [(row["line"], row["action"]) for row in rows] == [(1, "Create"), (2, "Error"), (3, "Error")]
    assert rows[1]["email"] == "not-an-email"
    assert rows[1]["notes"]["email"][0].startswith("'not-an-email' is not a valid email address")
    assert rows[2]["notes"]["password"] == ["The password must be at least 8 characters long."]
    assert rows[2]["password"] == "••••••" and "secret-pass-123" not in page
    assert "2 rows with errors (they will not be imported)" in visible(page)
    assert "Import 1 row" in visible(page)


def test_the_cells_are_shown_as_text_not_as_markup(admin_client):
    _, page = previewed(admin_client, "Doe, <script>alert(1)</script>, jane@example.com")

    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_report_lists_the_rejected_rows_with_their_reason_and_links_their_csv(admin_client, now):
    job_id, _ = previewed(admin_client, ROSTER_WITH_ERRORS)

    page = imported(admin_client, job_id, now)

    assert report(page) == {"Created": 1, "Updated": 0, "Unchanged": 0, "Skipped (already had an account)": 0,
                            "Rejected": 2, "Emails queued": 1}
    rejected = re.search(r"<h3>Rejected rows</h3>(.*?)</table>", page, re.S).group(1)
    assert "Line Column Reason 2 email 'not-an-email' is not a valid email address" in visible(rejected)
    assert "3 password The password must be at least 8 characters long." in visible(rejected)
    assert f'href="/admin/imports/{job_id}/rejected.csv"' in rejected
    data = admin_client.get(f"/admin/imports/{job_id}/rejected.csv").get_data(as_text=True)
    assert [record[2] for record in csv_records(data)[1:]] == ["not-an-email", "short@example.com"]
    assert "secret-pass-123" not in data


def test_the_errors_filter_lists_only_the_rows_with_errors(admin_client):
    job_id, _ = previewed(admin_client, ROSTER_WITH_ERRORS)

    page = text(admin_client.get(f"/admin/imports/{job_id}?show=error"))

    assert lines(page) == [2, 3]
    assert "Errors (2)" in visible(page) and "Create (1)" in visible(page)
    assert lines(text(admin_client.get(f"/admin/imports/{job_id}?show=create"))) == [1]


def test_the_rejected_rows_csv_explains_each_error_keeps_no_password_and_defuses_formulas(admin_client):
    job_id, page = previewed(admin_client, ROSTER_WITH_ERRORS)
    assert f'href="/admin/imports/{job_id}/rejected.csv"' in page and "Download rejected rows" in page

    response = admin_client.get(f"/admin/imports/{job_id}/rejected.csv")

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f'filename="rejected-rows-import-{job_id}.csv"' in response.headers["Content-Disposition"]
    data = response.get_data(as_text=True)
    comments = [line for line in data.splitlines() if line.startswith("#")]
    assert any(line.startswith("# line 2, email: ") for line in comments)
    assert "# line 3, password: The password must be at least 8 characters long." in comments
    assert "secret-pass-123" not in data and ",abc" not in data
    header, bad_email, short_password = csv_records(data)
    assert header == list(COLUMNS)
    assert bad_email[:3] == ["Bad", "Email", "not-an-email"] and bad_email[5] == ""
    assert bad_email[7] == "'=HYPERLINK(\"x\")"  # a spreadsheet shows it as text, not a formula
    assert short_password[2] == "short@example.com" and short_password[5] == ""


def test_the_rejected_rows_csv_fixed_is_read_back_by_the_roster_parser(admin_client):
    job_id, _ = previewed(admin_client, ROSTER_WITH_ERRORS)
    data = admin_client.get(f"/admin/imports/{job_id}/rejected.csv").get_data(as_text=True)

    roster = parse_text(data.replace("not-an-email", "fixed@example.com"), languages=LANGUAGES)

    assert roster.all_errors() == []
    assert [(row.line, row.email) for row in roster.rows] == [(5, "fixed@example.com"), (7, "short@example.com")]


def test_a_defused_cell_of_the_rejected_rows_imports_back_as_it_was_typed(admin_client):
    job_id, _ = previewed(admin_client, "Doe, Jane, not-an-email, , 1, , en, +33 6 12 34 56 78")
    data = admin_client.get(f"/admin/imports/{job_id}/rejected.csv").get_data(as_text=True)

    roster = parse_text(data.replace("not-an-email", "jane@example.com"), languages=LANGUAGES)

    assert roster.rows[0].values["additional_info"] == "+33 6 12 34 56 78"


def test_a_date_cell_of_an_xlsx_rejected_row_imports_back_once_the_row_is_fixed(admin_client, now):
    leaves = a_future_day(now)
    data = workbook({1: ["email", "deactivate_on"], 2: ["not-an-email", datetime.combine(leaves, datetime.min.time())]})
    job_id, _ = previewed(admin_client, file=(data, "people.xlsx"))
    rejected = admin_client.get(f"/admin/imports/{job_id}/rejected.csv").get_data(as_text=True)

    roster = parse_text(rejected.replace("not-an-email", "ann@example.com"), languages=LANGUAGES)

    assert roster.all_errors() == [] and roster.rows[0].values["deactivate_on"] == leaves


def test_a_date_cell_of_an_xlsx_error_row_is_previewed_as_a_date(admin_client, now):
    leaves = a_future_day(now)
    data = workbook({1: ["email", "deactivate_on"], 2: ["not-an-email", datetime.combine(leaves, datetime.min.time())]})

    _, page = previewed(admin_client, file=(data, "people.xlsx"))

    assert preview_rows(page)[0]["deactivate_on"] == leaves.isoformat()


def test_an_error_on_a_default_value_is_explained_on_its_row(admin_client):
    yesterday = utcnow().date() - timedelta(days=1)

    _, page = previewed(admin_client, "email,first_name\nann@example.com,Ann", deactivate_on=yesterday.isoformat())

    row = preview_rows(page)[0]
    assert row["action"] == "Error"
    assert f"{yesterday.isoformat()} is not after today." in visible(page)


def test_a_bad_header_counts_only_the_rows_as_rejected(admin_client):
    job_id, page = previewed(admin_client, "email,E-mail\nann@example.com,a@example.com\nbob@example.com,b@example.com")

    assert "Column given twice in the header: email (“email”, “E-mail”)" in visible(page)
    assert "Preview: 2 rows" in visible(page)
    assert "2 rows with errors" in visible(page) and job_of(job_id).rejected_count == 2


# --- pages of the preview ---------------------------------------------------------------------


def test_a_long_preview_is_shown_100_rows_a_page(admin_client):
    job_id, page = previewed(admin_client, "\n".join(f"L{n}, F{n}, person{n}@example.com" for n in range(1, 251)))

    assert lines(page) == list(range(1, 101)) and "Page 1 of 3" in visible(page)
    assert "Import 250 rows" in visible(page)
    last = text(admin_client.get(f"/admin/imports/{job_id}?page=3"))
    assert lines(last) == list(range(201, 251)) and "Page 3 of 3" in visible(last)
    assert lines(text(admin_client.get(f"/admin/imports/{job_id}?page=99"))) == list(range(201, 251))


def test_an_htmx_page_of_the_preview_is_only_the_table_fragment(admin_client):
    job_id, _ = previewed(admin_client, "\n".join(f"L{n}, F{n}, person{n}@example.com" for n in range(1, 251)))

    response = admin_client.get(f"/admin/imports/{job_id}?show=create&page=2", headers=htmx_headers("preview-table"))

    fragment = text(response)
    assert response.status_code == 200
    assert "<html" not in fragment and "<h1" not in fragment and "Import 250 rows" not in fragment
    assert lines(fragment) == list(range(101, 201)) and "Page 2 of 3" in visible(fragment)
    assert f'hx-get="/admin/imports/{job_id}?show=create&amp;page=3"' in fragment


# --- what is refused ------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def test_a_picture_named_csv_is_refused_and_nothing_is_written(admin_client):
    response = preview(admin_client, file=(PNG, "people.csv"))

    assert response.status_code == 422
    assert field_error(text(response), "file") == "people.csv is not a text or CSV roster."
    assert count(ImportJob) == 0 and count(User) == 1


def test_a_word_document_is_refused_by_its_name_and_nothing_is_written(admin_client):
    response = preview(admin_client, file=(b"PK\x03\x04 not really a document", "people.docx"))

    assert response.status_code == 422
    assert field_error(text(response), "file") == "Upload an .xlsx or .csv file."
    assert count(ImportJob) == 0


def test_a_damaged_workbook_is_refused_with_its_name(admin_client):
    response = preview(admin_client, file=(b"PK\x03\x04 truncated zip", "people.xlsx"))

    assert response.status_code == 422
    assert field_error(text(response), "file").startswith("people.xlsx cannot be read as an XLSX workbook")
    assert count(ImportJob) == 0


def test_an_empty_form_asks_for_rows(admin_client):
    for response in (preview(admin_client), preview(admin_client, "  \n ")):
        assert response.status_code == 422
        assert field_error(text(response), "roster") == "Paste some rows or choose a file."
    assert count(ImportJob) == 0


def test_an_upload_over_the_size_limit_is_refused_with_413_and_nothing_is_written(admin_client, monkeypatch, app):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2048)
    big = "\n".join(f"L{n}, F{n}, person{n}@example.com" for n in range(200)).encode()

    response = preview(admin_client, file=(big, "people.csv"))

    assert response.status_code == 413
    assert "The upload is larger than the platform accepts." in visible(text(response))
    assert count(ImportJob) == 0 and count(User) == 1


def test_a_roster_of_more_than_50000_rows_is_refused_and_nothing_is_written(admin_client):
    big = "".join(f"L{n},F{n},p{n}@example.com\n" for n in range(50_001)).encode()

    response = preview(admin_client, file=(big, "everyone.csv"))

    assert response.status_code == 422
    assert "more than 50,000 rows" in field_error(text(response), "file")
    assert count(ImportJob) == 0 and count(User) == 1


def test_a_paste_under_the_advertised_10_mb_is_previewed(admin_client):
    paste = "\n".join(f"L{n}, F{n}, person{n}@example.com, , 1, , en, {'x' * 1900}" for n in range(300))
    assert 500_000 < len(paste.encode()) < 10 * 1024 * 1024

    response = preview(admin_client, paste)

    assert response.status_code == 303


def test_a_very_long_file_name_is_shortened_for_the_draft(admin_client):
    response = preview(admin_client, file=(JAMES.encode(), "n" * 300 + ".csv"))

    filename = job_of(draft_of(response)).filename
    assert len(filename) <= 255 and filename.endswith(".csv")


def test_a_post_without_the_csrf_token_is_refused_and_nothing_is_written(admin_client, app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    job_id = draft_of(preview(admin_client, JAMES))

    refused = admin_client.post("/admin/imports/new", data={**OPTIONS, "roster": LEA}, csrf=False)
    refused_start = admin_client.post(f"/admin/imports/{job_id}/start", csrf=False)

    assert refused.status_code == 400 and "security token is missing" in visible(text(refused))
    assert refused_start.status_code == 400
    assert count(ImportJob) == 1 and job_of(job_id).status == ImportJobStatus.draft


# --- starting an import -----------------------------------------------------------------------


def test_a_strict_import_with_an_error_cannot_be_started(admin_client):
    job_id, page = previewed(admin_client, "A, B, ann@example.com\nC, D, not-an-email", strict="y")

    assert "all or nothing" in visible(page)
    assert "1 row with errors (nothing can be imported until they are fixed)" in visible(page)
    assert not has_import_button(page)

    response = start(admin_client, job_id)

    assert response.status_code == 303 and response.headers["Location"] == f"/admin/imports/{job_id}"
    assert flashes(text(admin_client.get(response.headers["Location"]))) == [
        "Nothing can be imported: the import is all-or-nothing and 1 row has errors. Fix them and preview again."]
    assert job_of(job_id).status == ImportJobStatus.draft and count(User) == 1


def test_pressing_import_twice_queues_one_job_that_runs_once(admin_client, now):
    job_id, _ = previewed(admin_client, JAMES)

    first, second = start(admin_client, job_id), start(admin_client, job_id)

    assert first.status_code == second.status_code == 303
    assert flashes(text(admin_client.get(f"/admin/imports/{job_id}"))) == ["This import has already been started."]
    assert job_of(job_id).status == ImportJobStatus.queued and count(ImportJob) == 1
    assert run_import_job(job_id, now=now) is not None
    assert run_import_job(job_id, now=now) is None
    assert count(User) == 2 and emails_to("james.smith@example.com") == ["account_created"]


def test_an_htmx_import_press_is_answered_with_a_redirect_header(admin_client):
    job_id, _ = previewed(admin_client, JAMES)

    response = start(admin_client, job_id, headers=htmx_headers("import-start"))

    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/admin/imports/{job_id}"
    assert job_of(job_id).status == ImportJobStatus.queued


def test_the_page_runs_the_job_in_a_thread_with_its_own_app_context(admin_client, app):
    job_id, _ = previewed(admin_client, JAMES + "\n" + LEA.replace(", Sales Team", ""))
    assert start(admin_client, job_id).status_code == 303

    thread = run_import_job_in_thread(app, job_id)
    thread.join(timeout=60)

    assert not thread.is_alive()
    job = job_of(job_id)
    assert job.status == ImportJobStatus.finished and job.created_count == 2 and job.input_data is None
    assert user_of("james.smith@example.com") is not None and user_of("lea.martin@example.com") is not None


# --- modes and defaults ---------------------------------------------------------------------

EXISTING = "email,first_name,last_name,additional_info,language\nkim@example.com,Kimberly,New,Designer,fr"


def test_update_mode_overwrites_the_account_and_the_preview_marks_the_changes(admin_client, make_user, now):
    make_user("kim@example.com", first_name="Kim", last_name="Old", additional_info="", language="en")

    job_id, page = previewed(admin_client, EXISTING, mode="update")

    [row] = preview_rows(page)
    assert row["action"] == "Update" and row["first_name"] == "Kimberly"
    assert {column for column, notes in row["notes"].items() if "(changes)" in notes} == {
        "first_name", "last_name", "additional_info", "language"}
    assert "1 to update, 0 unchanged" in visible(page)
    assert user_of("kim@example.com").first_name == "Kim"

    page = imported(admin_client, job_id, now)

    kim = user_of("kim@example.com")
    assert (kim.first_name, kim.last_name, kim.additional_info, kim.language) == ("Kimberly", "New", "Designer", "fr")
    assert report(page)["Updated"] == 1 and report(page)["Created"] == 0


def test_fill_mode_sets_only_the_fields_the_account_has_empty(admin_client, make_user, now):
    make_user("kim@example.com", first_name="Kim", last_name="", additional_info="", language="en")

    job_id, page = previewed(admin_client, EXISTING, mode="fill")

    [row] = preview_rows(page)
    assert row["action"] == "Update"
    changed = {column for column, notes in row["notes"].items() if "(changes)" in notes}
    assert changed == {"last_name", "additional_info"}

    imported(admin_client, job_id, now)

    kim = user_of("kim@example.com")
    assert (kim.first_name, kim.last_name, kim.additional_info, kim.language) == ("Kim", "New", "Designer", "en")


def test_create_mode_skips_an_existing_account(admin_client, make_user, now):
    make_user("kim@example.com", first_name="Kim")

    job_id, page = previewed(admin_client, EXISTING + "\nnew@example.com,New,Person,,en")

    assert [row["action"] for row in preview_rows(page)] == ["Skip (exists)", "Create"]
    assert "1 already has an account (skipped)" in visible(page)
    assert report(imported(admin_client, job_id, now))["Skipped (already had an account)"] == 1
    assert user_of("kim@example.com").first_name == "Kim"


def test_the_forms_defaults_apply_to_the_rows_that_leave_those_fields_empty(admin_client, make_group, now):
    newcomers = make_group("Newcomers")
    make_group("Sales")
    default_day, own_day = a_future_day(now, 30), a_future_day(now, 400)
    roster = "\n".join([
        "Empty, Row, empty@example.com",
        f"Full, Row, full@example.com, , 1, , nl, , Sales, admin, {own_day.isoformat()}",
    ])

    job_id, page = previewed(admin_client, roster, language="fr", role="manager", groups=[newcomers.id],
                             deactivate_on=default_day.isoformat(), send_email=None)

    empty, full = preview_rows(page)
    assert (empty["language"], empty["role"], empty["groups"], empty["send_email"], empty["deactivate_on"]) == (
        "fr", "manager", "Newcomers", "no", default_day.isoformat())
    assert (full["language"], full["role"], full["groups"], full["send_email"], full["deactivate_on"]) == (
        "nl", "admin", "Sales", "yes", own_day.isoformat())

    imported(admin_client, job_id, now)

    empty, full = user_of("empty@example.com"), user_of("full@example.com")
    assert (empty.language, empty.role, empty.deactivate_on, groups_of(empty)) == (
        "fr", Role.manager, default_day, ["Newcomers"])
    assert (full.language, full.role, full.deactivate_on, groups_of(full)) == ("nl", Role.admin, own_day, ["Sales"])
    assert emails_to("empty@example.com") == [] and emails_to("full@example.com") == ["invitation"]


def test_a_default_group_is_the_group_ticked_even_when_another_is_named_like_its_id(admin_client, make_group):
    newcomers = make_group("Newcomers")
    make_group(str(newcomers.id))

    _, page = previewed(admin_client, "A, B, ann@example.com", groups=[newcomers.id])

    assert preview_rows(page)[0]["groups"] == "Newcomers"


def test_a_default_group_deleted_before_the_import_runs_rejects_the_rows(admin_client, make_group, now):
    newcomers = make_group("Newcomers")
    job_id, _ = previewed(admin_client, "A, B, ann@example.com", groups=[newcomers.id])
    assert start(admin_client, job_id).status_code == 303
    delete_group(db.session.get(Group, newcomers.id), actor=None, now=now)
    db.session.commit()

    run_import_job(job_id, now=now)

    job = job_of(job_id)
    assert job.status == ImportJobStatus.finished and job.failure_message is None
    assert job.rejected_count == 1 and job.errors[0]["column"] == "groups"


def test_update_mode_does_not_let_an_admin_demote_themselves(admin_client, admin, now):
    job_id, page = previewed(admin_client, "email,role\nadmin@example.com,learner", mode="update")

    assert preview_rows(page)[0]["action"] == "Error"
    assert "You cannot change your own role." in visible(page) and "Import 1 row" not in visible(page)
    start(admin_client, job_id)
    assert run_import_job(job_id, now=now) is None  # never queued
    assert user_of(admin.email).role == Role.admin


def test_an_import_run_by_an_admin_leaves_their_own_deactivation_date_alone(app, admin, now):
    from lms.enrollment.rosters.importer import run_import
    from lms.enrollment.rosters.parser import load_roster

    day = a_future_day(now)
    roster = load_roster(f"email,first_name,deactivate_on\nadmin@example.com,Ada,{day.isoformat()}".encode(),
                         languages=LANGUAGES)

    report = run_import(roster, actor=admin, now=now, mode="fill")

    assert [(error.column, error.message) for error in report.errors] == [
        ("deactivate_on", "You cannot schedule your own deactivation.")]
    assert user_of(admin.email).deactivate_on is None


def test_edit_and_preview_again_brings_back_the_rows_and_the_options(admin_client, make_group, now):
    newcomers, other = make_group("Newcomers"), make_group("Other")
    day = a_future_day(now)
    roster = JAMES + "\n" + "Doe, Jane, jane@example.com"
    job_id, page = previewed(admin_client, roster, mode="update", strict="y", language="fr", role="manager",
                             groups=[newcomers.id], deactivate_on=day.isoformat(), send_email=None)
    assert f'href="/admin/imports/new?from={job_id}"' in page and "Edit the rows and preview again" in page

    form = text(admin_client.get(f"/admin/imports/new?from={job_id}"))

    assert textarea(form, "roster") == roster
    assert is_checked(form, "mode", "update") and not is_checked(form, "mode", "create")
    assert is_checked(form, "strict") and not is_checked(form, "send_email")
    assert selected(form, "language") == "fr" and selected(form, "role") == "manager"
    assert is_checked(form, "groups", newcomers.id) and not is_checked(form, "groups", other.id)
    assert re.search(rf'name="deactivate_on"[^>]*value="{day.isoformat()}"', form)


# --- discarding ---------------------------------------------------------------------------


def test_discard_deletes_the_draft(admin_client):
    job_id, _ = previewed(admin_client, JAMES)

    response = admin_client.post(f"/admin/imports/{job_id}/discard")

    assert response.status_code == 303 and response.headers["Location"] == "/admin/imports/new"
    assert flashes(text(admin_client.get("/admin/imports/new"))) == ["The preview was discarded; nothing was imported."]
    assert job_of(job_id) is None and count(User) == 1
    assert admin_client.get(f"/admin/imports/{job_id}").status_code == 404


def test_discard_leaves_an_import_that_was_started_meanwhile(admin_client, now):
    job_id, _ = previewed(admin_client, JAMES)
    assert start(admin_client, job_id).status_code == 303  # from another tab

    response = admin_client.post(f"/admin/imports/{job_id}/discard")

    assert response.status_code == 303
    assert job_of(job_id).status == ImportJobStatus.queued
    assert run_import_job(job_id, now=now) is not None and user_of("james.smith@example.com") is not None


def test_the_due_work_discards_drafts_older_than_a_day_but_no_started_import(admin_client, now):
    stale = draft_of(preview(admin_client, "A, B, stale@example.com"))
    queued = draft_of(preview(admin_client, "A, B, queued@example.com"))
    finished = draft_of(preview(admin_client, "A, B, finished@example.com"))
    assert start(admin_client, queued).status_code == 303
    imported(admin_client, finished, now)
    previewed_at = job_of(stale).created_at

    assert run_due(now=previewed_at + timedelta(hours=23))["import_previews_discarded"] == 0
    counts = run_due(now=previewed_at + timedelta(days=1, minutes=1))

    assert counts["import_previews_discarded"] == 1 and job_of(stale) is None
    assert job_of(queued) is not None and job_of(finished).status == ImportJobStatus.finished


# --- who may, and past imports --------------------------------------------------------------


def test_managers_and_learners_are_refused(manager_client, learner_client):
    for client in (manager_client, learner_client):
        assert client.get("/admin/imports/new").status_code == 403
        assert preview(client, JAMES).status_code == 403
        assert client.get("/admin/imports/template.xlsx").status_code == 403
    assert count(ImportJob) == 0


def test_past_imports_lists_the_imports_that_ran_with_their_figures_not_the_drafts(admin_client, now):
    finished = draft_of(preview(admin_client, file=(f"{JAMES}\nX, Y, not-an-email".encode(), "finished.csv")))
    imported(admin_client, finished, now)
    preview(admin_client, file=(JAMES.encode(), "draft.csv"))

    page = text(admin_client.get("/admin/imports"))

    assert "finished.csv" in page and "draft.csv" not in page
    row = re.search(r"<tr>\s*<td data-label=\"Import\">(.*?)</tr>", page, re.S).group(0)
    cells = dict(re.findall(r'<td data-label="(\w+)">(.*?)</td>', row, re.S))
    assert {name: visible(cells[name]) for name in ("Status", "Rows", "Created", "Skipped", "Rejected")} == {
        "Status": "finished", "Rows": "2", "Created": "1", "Skipped": "0", "Rejected": "1"}
    assert f'href="/admin/imports/{finished}"' in row


def import_from_the_command_line(app, *args, input=None):
    """`lms import ARGS... --json`, as an operator runs it; returns (exit code, JSON printed)."""
    result = app.test_cli_runner().invoke(args=["lms", "import", *args, "--json"], input=input)
    return result.exit_code, json.loads(result.stdout)


def past_imports(client):
    """The Past imports rows, newest first: {column label: visible text}."""
    page = text(client.get("/admin/imports"))
    return [{label: visible(cell) for label, cell in re.findall(r'<td data-label="(\w+)">(.*?)</td>', row, re.S)}
            for row in re.findall(r"<tr>\s*(<td data-label=\"Import\">.*?)</tr>", page, re.S)]


def test_an_import_run_from_the_command_line_is_under_past_imports_saying_so(app, admin_client, tmp_path):
    """Issue 16 line 11: imports run with `lms import` were missing from Past imports."""
    path = tmp_path / "march.csv"
    path.write_text(f"{JAMES}\nX, Y, not-an-email\n", encoding="utf-8")

    code, printed = import_from_the_command_line(app, str(path))

    assert code == 2 and printed["created"] == 1 and len(printed["errors"]) == 1
    (row,) = past_imports(admin_client)
    assert row == {"Import": str(path), "When": row["When"], "By": "Command line (lms import)", "Status": "finished",
                   "Rows": "2", "Created": "1", "Updated": "0", "Skipped": "0", "Rejected": "1"}
    (job,) = db.session.scalars(select(ImportJob)).all()
    page = text(admin_client.get(f"/admin/imports/{job.id}"))
    assert "from the command line (lms import)" in visible(page)
    assert report(page)["Created"] == 1 and report(page)["Rejected"] == 1
    rejected = re.search(r"<h3>Rejected rows</h3>(.*?)</table>", page, re.S).group(1)
    assert "2 email 'not-an-email' is not a valid email address" in visible(rejected)
    data = admin_client.get(f"/admin/imports/{job.id}/rejected.csv").get_data(as_text=True)
    assert [record[2] for record in csv_records(data)[1:]] == ["not-an-email"]


def test_the_page_and_the_command_line_record_the_same_job(app, admin_client, tmp_path, now):
    """Both doors: the same source, options, counts and per-line errors; only who ran it differs."""
    page_roster = "Doe, Jane, page@example.com, , 1\nX, Y, not-an-email\n"
    by_page = draft_of(preview(admin_client, file=(page_roster.encode(), "people.csv")))
    imported(admin_client, by_page, now)
    path = tmp_path / "people.csv"
    path.write_text(page_roster.replace("page@", "cli@"), encoding="utf-8")
    assert import_from_the_command_line(app, str(path))[0] == 2
    by_command = db.session.scalar(select(ImportJob.id).where(ImportJob.id != by_page))

    def recorded(job):
        return {"status": job.status, "source": job.source, "mode": job.mode, "strict": job.is_strict,
                "kind": job.options["kind"], "columns": job.options["columns"], "defaults": job.options["defaults"],
                "rows": (job.rows_total, job.rows_checked, job.rows_processed),
                "counts": (job.created_count, job.updated_count, job.unchanged_count, job.skipped_count,
                           job.rejected_count, job.emails_queued),
                "errors": job.errors, "kept input": job.input_data is not None}

    page_job, command_job = job_of(by_page), job_of(by_command)
    assert recorded(command_job) == recorded(page_job)
    assert recorded(command_job)["counts"] == (1, 0, 0, 0, 1, 1) and not recorded(command_job)["kept input"]
    assert (page_job.from_command_line, page_job.created_by.email) == (False, "admin@example.com")
    assert (command_job.from_command_line, command_job.created_by) == (True, None)
    assert [row["By"] for row in past_imports(admin_client)] == ["Command line (lms import)", "Ada Admin"]


def test_an_import_from_standard_input_is_listed_as_such(app, admin_client):
    code, _ = import_from_the_command_line(app, "-", input="A, B, stdin@example.com\n")

    assert code == 0
    assert [(row["Import"], row["By"], row["Created"]) for row in past_imports(admin_client)] == [
        ("Standard input", "Command line (lms import)", "1")]


def test_the_group_ids_download_lists_each_group_with_its_public_id(admin_client, make_group):
    group = make_group("=Formula Team")

    response = admin_client.get("/admin/imports/group-ids.csv")

    assert response.mimetype == "text/csv"
    assert csv_records(response.get_data(as_text=True)) == [
        ["id", "name", "members", "sessions"], [group.public_id, "'=Formula Team", "0", "0"]]


# --- the form's other ways in -------------------------------------------------------------


def test_a_paste_and_a_file_together_are_refused_naming_both(admin_client):
    response = preview(admin_client, JAMES, file=(b"email\nx@example.com\n", "people.csv"))

    assert response.status_code == 422
    assert field_error(text(response), "roster") == "Paste rows or upload a file, not both."
    assert count(ImportJob) == 0


def test_changing_the_options_of_an_uploaded_file_previews_the_same_file_again(admin_client, make_group):
    group = make_group("Newcomers")
    first = draft_of(preview(admin_client, file=(b"email\nann@example.com\nbob@example.com\n", "team.csv")))
    form = text(admin_client.get(f"/admin/imports/new?from={first}"))
    assert "Without another file or paste, the preview uses team.csv again" in visible(form)

    second, page = previewed(admin_client, draft=str(first), groups=[group.id])

    assert [row["email"] for row in preview_rows(page)] == ["ann@example.com", "bob@example.com"]
    assert [row["groups"] for row in preview_rows(page)] == ["Newcomers", "Newcomers"]
    assert job_of(first) is None and job_of(second).filename == "team.csv"  # the old preview is replaced


def test_a_pasted_draft_is_not_reused_when_the_paste_box_is_emptied(admin_client):
    first = draft_of(preview(admin_client, JAMES))

    response = preview(admin_client, "", draft=str(first))

    assert response.status_code == 422
    assert field_error(text(response), "roster") == "Paste some rows or choose a file."
    assert job_of(first) is not None


def test_excel_unicode_text_is_read(admin_client):
    data = "last_name\tfirst_name\temail\nÖzil\tZoë\tzoe@example.com\n".encode("utf-16")

    _, page = previewed(admin_client, file=(data, "people.txt"))

    assert [(row["email"], row["action"]) for row in preview_rows(page)] == [("zoe@example.com", "Create")]
    assert "Özil" in visible(page)


def test_columns_no_row_of_the_page_fills_are_left_out_and_named(admin_client):
    _, page = previewed(admin_client, "Smith, James, james@example.com\nDoe, Jane, jane@example.com, , 0")

    header = re.search(r'<table class="stack preview-rows">.*?<thead>(.*?)</thead>', page, re.S).group(1)
    assert "email" in header and "send_email" in header and "password" not in header
    assert "Not shown, as no row on this page fills them: labels, password, additional_info, groups, " \
           "deactivate_on." in visible(page)


def test_an_error_in_a_default_from_the_form_is_explained_in_the_row(admin_client):
    yesterday = (utcnow().date() - timedelta(days=1)).isoformat()

    _, page = previewed(admin_client, "Smith, James, james@example.com", deactivate_on=yesterday)

    (row,) = preview_rows(page)
    assert row["action"] == "Error" and row["notes"]["Action"] == ["in deactivate_on"]
    assert row["notes"]["deactivate_on"] == [f"From the form's values: {yesterday} is not after today."]


def test_discarding_a_started_import_says_it_was_not_discarded(admin_client):
    job_id = draft_of(preview(admin_client, JAMES))
    start(admin_client, job_id)

    response = admin_client.post(f"/admin/imports/{job_id}/discard", follow_redirects=True)

    assert "This import has already been started; it was not discarded." in flashes(text(response))
    assert job_of(job_id).status == ImportJobStatus.queued


def test_no_comment_line_of_the_rejected_rows_becomes_a_formula_in_a_spreadsheet(admin_client):
    """A spreadsheet opening the CSV splits comment lines at their commas and reads quoted
    fields: none of their cells may start as a formula, quoted or not."""
    job_id, _ = previewed(admin_client, 'Doe, Jane, "x,""=1+1"","\nRoe, Ray, "y; "" +2"" z"\nPoe, Pat, "a,@SUM(A1)"')

    data = admin_client.get(f"/admin/imports/{job_id}/rejected.csv").get_data(as_text=True)

    comments = [line for line in data.splitlines() if line.startswith("#")]
    assert len(comments) >= 4
    for cells in list(csv.reader(comments)) + list(csv.reader(comments, delimiter=";")):
        for cell in cells:
            assert not cell.strip().startswith(("=", "+", "-", "@")), cells
