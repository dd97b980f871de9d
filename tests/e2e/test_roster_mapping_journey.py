"""HR uploads an export from their HR system whose headers the table does not know, maps two
columns on the preview, previews again (no new upload) and imports: the people get the right
names and external ids, and the next export with the same header is read the same way."""
from playwright.sync_api import expect
from sqlalchemy import select

from lms.accounts.models import User
from lms.clock import utcnow
from lms.extensions import db
from tests.conftest import PASSWORD
from tests.e2e.conftest import add_user, sign_in, snapshot

EXPORT = ("Matricule;Given;Family;Work e-mail;Badge colour\n"
          "E-101;Kate;Kowalski;kate.kowalski@example.com;blue\n"
          "E-102;Ned;Nilsen;ned.nilsen@example.com;red\n"
          "E-103;Olga;Ortiz;olga.ortiz@example.com;blue\n")


def upload(page, path):
    page.goto("/admin/imports/new")
    page.get_by_label("Or upload a file").set_input_files(str(path))
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", level=1, name="Preview: 3 rows")).to_be_visible()


def test_hr_maps_two_columns_previews_again_and_imports(page, site, tmp_path):
    hr = add_user("hana.hr@example.com", role="admin", first_name="Hana", password=PASSWORD, now=utcnow())
    db.session.commit()
    export = tmp_path / "hr-export.csv"
    export.write_text(EXPORT, encoding="utf-8")
    sign_in(page, hr.email, PASSWORD)

    upload(page, export)
    summary = page.get_by_role("region", name="What the import will do")
    expect(summary).to_contain_text("Columns not imported (no field of a roster): “Given”, “Family”, “Badge colour”")
    columns = page.get_by_role("region", name="Columns of the roster")
    expect(columns).to_be_visible()  # open, since some columns are not imported
    expect(columns.get_by_role("row", name="Given")).to_contain_text("Kate · Ned · Olga")
    expect(page.get_by_label("Matricule")).to_have_value("external_id")
    expect(page.get_by_label("Work e-mail")).to_have_value("email")
    rows = page.get_by_role("region", name="Rows of the roster").get_by_role("row")
    expect(rows.nth(1)).not_to_contain_text("Kate")
    snapshot(page, "mapping-1-unknown-columns")

    page.get_by_label("Given").select_option("first_name")
    page.get_by_label("Family").select_option(label="Last name")
    page.get_by_role("button", name="Preview again with these columns").click()

    expect(page.get_by_role("heading", level=1, name="Preview: 3 rows")).to_be_visible()
    expect(page.get_by_label("Given")).to_have_value("first_name")
    expect(summary).to_contain_text("Column not imported (no field of a roster): “Badge colour”")
    expect(rows.nth(1)).to_contain_text("Kate")
    expect(rows.nth(1)).to_contain_text("Kowalski")
    expect(rows.nth(1)).to_contain_text("E-101")
    snapshot(page, "mapping-2-mapped")

    page.get_by_role("button", name="Import 3 rows").click()
    report = page.get_by_role("region", name="Report")
    expect(report).to_be_visible(timeout=30_000)
    expect(report.get_by_role("row", name="Created 3", exact=True)).to_be_visible()

    db.session.expire_all()
    people = db.session.execute(select(User.email, User.first_name, User.last_name, User.external_id)
                                .where(User.external_id.is_not(None)).order_by(User.external_id)).all()
    assert [tuple(person) for person in people] == [
        ("kate.kowalski@example.com", "Kate", "Kowalski", "E-101"),
        ("ned.nilsen@example.com", "Ned", "Nilsen", "E-102"),
        ("olga.ortiz@example.com", "Olga", "Ortiz", "E-103")]

    # Next month's export, same header: read as mapped, without asking again.
    later = tmp_path / "hr-export-next.csv"
    later.write_text(EXPORT.replace("Olga;Ortiz;olga.ortiz", "Olga;Ortiz-Lee;olga.ortiz"), encoding="utf-8")
    upload(page, later)
    expect(summary).to_contain_text("Columns read as they were mapped for this header")
    expect(page.get_by_label("Family")).to_have_value("last_name")
