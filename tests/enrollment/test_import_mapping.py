"""The preview's mapping step (DESIGN §4): each column of the file with a few of its values and
the field it is read as; HR changes a column, the same file is read again without a new upload,
and the mapping is remembered for the next file with the same header. Also the sheet of a
workbook, and what is said of the columns that are not imported.
"""
import io
import re
from html import unescape

from openpyxl import Workbook
from sqlalchemy import select

from lms.accounts.models import User
from lms.enrollment.groups.services import group_names_by_user
from lms.enrollment.rosters.models import ImportJob, ImportJobStatus, RosterMapping
from lms.extensions import db
from tests.enrollment.test_import_views import imported, preview, preview_rows, previewed
from tests.pages import flashes, text, visible

DISCOURSE_HEADERLESS = "kate@example.com,Sales North,12\nned@example.com,Sales North,14\n"
HR_EXPORT = "Matricule;Given;Family;Work e-mail\nE-1;Kate;Kowalski;kate@example.com\nE-2;Ned;Nilsen;ned@example.com\n"


def column_choices(html):
    """{column title: (its sample values, the field it is read as)} from the mapping step."""
    form = re.search(r'<form[^>]*id="columns-form".*?</form>', html, re.S).group(0)
    columns = {}
    for row in re.findall(r"<tr>(.*?)</tr>", form.split("<tbody>")[1], re.S):
        title = visible(re.search(r"<label[^>]*>(.*?)</label>", row, re.S).group(1))
        values = visible(re.search(r'<td data-label="Values">(.*?)</td>', row, re.S).group(1))
        selected = re.search(r'<option selected value="([^"]*)"|<option value="([^"]*)" selected', row)
        columns[title] = (values, next(value for value in selected.groups() if value))
    return columns


def remap(client, job_id, *fields, sheet=None):
    data = {f"columns-{index}": field for index, field in enumerate(fields)}
    if sheet is not None:
        data["sheet"] = sheet
    return client.post(f"/admin/imports/{job_id}/columns", data=data)


def new_draft(response):
    assert response.status_code == 303, text(response)
    return int(re.fullmatch(r"/admin/imports/(\d+)", response.headers["Location"]).group(1))


def test_a_headerless_file_with_emails_first_is_stopped_then_mapped_and_imported(admin_client, make_group, now):
    make_group("Sales North")
    job_id, page = previewed(admin_client, file=(DISCOURSE_HEADERLESS.encode(), "invites.csv"))

    assert "its emails are in column 1" in unescape(visible(page))
    assert "2 rows with errors" in visible(page)
    columns = column_choices(page)
    assert columns["Column 1"] == ("kate@example.com · ned@example.com", "last_name")
    assert columns["Column 3"] == ("12 · 14", "email")

    response = remap(admin_client, job_id, "email", "groups", "ignore")

    mapped = new_draft(response)
    assert db.session.scalars(select(ImportJob.id)).all() == [mapped]  # the earlier draft is replaced
    page = text(admin_client.get(f"/admin/imports/{mapped}"))
    assert [(row["line"], row["action"], row["email"]) for row in preview_rows(page)] == [
        (1, "Create", "kate@example.com"), (2, "Create", "ned@example.com")]
    assert column_choices(page)["Column 1"][1] == "email"

    report = imported(admin_client, mapped, now)

    assert "Created" in visible(report)
    kate = db.session.scalar(select(User).where(User.email == "kate@example.com"))
    assert (kate.last_name, kate.first_name, kate.labels) == ("", "", [])
    assert group_names_by_user([kate.id])[kate.id] == ["Sales North"]


def test_a_mapping_is_remembered_for_the_next_file_with_the_same_header(admin_client, now):
    job_id, page = previewed(admin_client, file=(HR_EXPORT.encode(), "hr.csv"))
    columns = column_choices(page)
    # The table knows "Matricule" (external id) and "Work e-mail"; not "Given" and "Family".
    assert [field for _, field in columns.values()] == ["external_id", "ignore", "ignore", "email"]
    assert "“Given”, “Family”" in unescape(visible(page))

    remap(admin_client, job_id, "external_id", "first_name", "last_name", "email")
    memory = db.session.scalar(select(RosterMapping))
    assert memory.mapping == {"1": "external_id", "2": "first_name", "3": "last_name", "4": "email"}

    next_month = HR_EXPORT.replace("Ned;Nilsen;ned", "Nina;Novak;nina") + "E-3;Olga;Ortiz;olga@example.com\n"
    later_id, later = previewed(admin_client, file=(next_month.encode(), "hr-next.csv"))

    assert "Columns read as they were mapped for this header" in visible(later)
    assert [(row["email"], row["first_name"], row["last_name"]) for row in preview_rows(later)] == [
        ("kate@example.com", "Kate", "Kowalski"), ("nina@example.com", "Nina", "Novak"),
        ("olga@example.com", "Olga", "Ortiz")]
    imported(admin_client, later_id, now)
    olga = db.session.scalar(select(User).where(User.email == "olga@example.com"))
    assert (olga.first_name, olga.last_name, olga.external_id) == ("Olga", "Ortiz", "E-3")


def test_another_header_is_not_read_with_a_remembered_mapping(admin_client):
    job_id, _ = previewed(admin_client, file=(HR_EXPORT.encode(), "hr.csv"))
    remap(admin_client, job_id, "external_id", "first_name", "last_name", "email")

    _, page = previewed(admin_client, file=(b"Work e-mail;Given\nzoe@example.com;Zoe\n", "other.csv"))

    assert "Columns read as they were mapped" not in visible(page)
    assert column_choices(page)["Given"][1] == "ignore"


def test_a_forged_field_is_refused_with_a_message_and_the_draft_stays(admin_client):
    job_id, _ = previewed(admin_client, file=(DISCOURSE_HEADERLESS.encode(), "invites.csv"))

    response = remap(admin_client, job_id, "email", "password_hash", "ignore")

    assert response.status_code == 303
    page = text(admin_client.get(response.headers["Location"]))
    assert "The columns could not be read as chosen: Column 2: Not a valid choice." in unescape(flashes(page)[0])
    assert db.session.get(ImportJob, job_id).status == ImportJobStatus.draft
    assert db.session.scalar(select(RosterMapping)) is None


def test_the_columns_of_a_started_import_cannot_be_changed(admin_client):
    job_id, _ = previewed(admin_client, "Kowalski, Kate, kate@example.com\n")
    admin_client.post(f"/admin/imports/{job_id}/start")

    response = remap(admin_client, job_id, "last_name", "first_name", "email")

    page = text(admin_client.get(response.headers["Location"]))
    assert "its columns can no longer be changed" in visible(page)


def test_a_double_click_on_preview_again_reads_the_file_once(admin_client):
    job_id, _ = previewed(admin_client, file=(DISCOURSE_HEADERLESS.encode(), "invites.csv"))

    first = remap(admin_client, job_id, "email", "ignore", "ignore")
    second = remap(admin_client, job_id, "email", "ignore", "ignore")

    assert first.status_code == 303 and second.status_code in (303, 404)
    assert db.session.scalar(select(db.func.count()).select_from(ImportJob)) == 1


def workbook_with_read_me_first():
    workbook = Workbook()
    read_me = workbook.active
    read_me.title = "Read me"
    read_me.append(["How to fill in this workbook"])
    read_me.append(["Write one person per row on the sheet Participants; questions to hr@example.com"])
    people = workbook.create_sheet("Participants")
    people.append(["Training participants, March 2027"])
    people.append([])
    people.append(["Prénom", "Nom", "Courriel"])
    people.append(["Marie", "Curie", "marie@example.fr"])
    other = workbook.create_sheet("Trainers")
    other.append(["email", "first_name"])
    other.append(["tom@example.com", "Tom"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_a_workbook_is_read_from_its_first_sheet_holding_a_roster_and_another_can_be_chosen(admin_client):
    job_id, page = previewed(admin_client, file=(workbook_with_read_me_first(), "people.xlsx"))

    assert "sheet “Participants”" in unescape(page)
    assert "Read the sheet “Participants”: the first one holding a roster (“Read me” before it holds none)." in \
        unescape(visible(page))
    assert [(row["line"], row["first_name"], row["last_name"]) for row in preview_rows(page)] == [
        (4, "Marie", "Curie")]

    other = new_draft(remap(admin_client, job_id, "first_name", "last_name", "email", sheet="Trainers"))

    page = text(admin_client.get(f"/admin/imports/{other}"))
    assert [(row["line"], row["email"], row["first_name"]) for row in preview_rows(page)] == [
        (2, "tom@example.com", "Tom")]


def test_an_empty_roster_is_refused_on_the_form(admin_client):
    response = preview(admin_client, file=(b"email,first_name\n,,\n,,\n", "empty.csv"))

    assert response.status_code == 422
    assert "has no rows to import" in visible(text(response))


def test_changing_the_options_keeps_the_columns_as_chosen(admin_client):
    job_id, _ = previewed(admin_client, file=(DISCOURSE_HEADERLESS.encode(), "invites.csv"))
    mapped = new_draft(remap(admin_client, job_id, "email", "ignore", "ignore"))

    response = admin_client.post("/admin/imports/new", data={"draft": mapped, "mode": "update", "language": "en",
                                                             "role": "learner", "send_email": "y"})

    page = text(admin_client.get(response.headers["Location"]))
    assert "existing accounts: updated" in visible(page)
    assert [(row["line"], row["action"]) for row in preview_rows(page)] == [(1, "Create"), (2, "Create")]
