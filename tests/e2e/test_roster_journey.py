"""Journey 2: HR pastes an account roster copied from a spreadsheet (30 lines, tabs, a few
errors), fixes them in the preview, imports, watches the progress, reads the report and
downloads the rejected rows."""
import csv
import io
import re
import unicodedata

from playwright.sync_api import expect
from sqlalchemy import func, select

from lms.accounts.models import User
from lms.clock import utcnow
from lms.enrollment.groups.services import create_group, group_names_by_user
from lms.extensions import db
from tests.conftest import PASSWORD
from tests.e2e.conftest import PHONE, SCREENSHOTS, add_user, htmx_settled, sign_in, snapshot

HEADER = ["last_name", "first_name", "email", "labels", "send_email", "password", "language",
          "additional_info", "groups", "role", "deactivate_on"]
FIRST_NAMES = ["Alice", "Bruno", "Chloé", "David", "Emma", "Farid", "Gaëlle", "Hugo", "Inès", "Jules"]
LAST_NAMES = ["Martin", "Bernard", "Dubois"]
BAD_EMAIL, FIXED_EMAIL = "paul.roux(at)example.com", "paul.roux@example.com"
BAD_GROUP, FIXED_GROUP = "Sales Nort", "Sales North"
SHORT_PASSWORD = "abc123"
BAD_EMAIL_LINE, BAD_GROUP_LINE, SHORT_PASSWORD_LINE = 8, 15, 23  # line 1 is the header
# What the job page's progress region says, from the first load to the report.
PROGRESS_RECORDER = """
window.__progress = [];
const note = () => {
  const heading = document.getElementById("import-progress-title");
  if (!heading) return;
  const count = document.getElementById("import-progress-count");
  const state = heading.textContent.trim() + (count ? " | " + count.textContent.trim() : "");
  if (window.__progress.at(-1) !== state) window.__progress.push(state);
};
document.addEventListener("DOMContentLoaded", note);
document.addEventListener("htmx:afterSettle", note);
"""
PROGRESS_STATE = re.compile(r"Waiting to start… \| 0 / 30 rows checked"
                            r"|Step 1 of 2: checking the rows… \| \d+ / 30 rows checked"
                            r"|Step 2 of 2: importing… \| \d+ / 30 rows imported")


def roster_lines():
    """The header and 30 people as a spreadsheet's copy gives them: tab-separated, every column
    present (empty cells too). Three rows are wrong."""
    lines = ["\t".join(HEADER)]
    for number in range(30):
        line = number + 2
        first, last = FIRST_NAMES[number % 10], LAST_NAMES[number // 10]
        ascii_first = unicodedata.normalize("NFKD", first).encode("ascii", "ignore").decode()
        email = f"{ascii_first.lower()}.{last.lower()}@example.com"
        groups = "Sales North" if number % 2 else "Sales South | Sales North"
        password = "Spring-2025-welcome" if number % 5 == 0 else ""
        if line == BAD_EMAIL_LINE:
            first, last, email = "Paul", "Roux", BAD_EMAIL
        if line == BAD_GROUP_LINE:
            groups = BAD_GROUP
        if line == SHORT_PASSWORD_LINE:
            password = SHORT_PASSWORD
        lines.append("\t".join([last, first, email, "France | North", "1", password, "fr" if number % 3 else "en",
                                "Sales representative", groups, "learner", ""]))
    return lines


def test_hr_pastes_a_roster_fixes_it_imports_it_and_downloads_the_rejected_rows(page, site, tmp_path):
    now = utcnow()
    hr = add_user("hana.hr@example.com", role="admin", first_name="Hana", last_name="Ressources",
                  password=PASSWORD, now=now)
    create_group("Sales North", actor=None, now=now)
    create_group("Sales South", actor=None, now=now)
    db.session.commit()
    lines = roster_lines()
    assert len(lines) == 31 and lines[SHORT_PASSWORD_LINE - 1].split("\t")[5] == SHORT_PASSWORD

    # Add people → Set multiple accounts, paste, preview.
    sign_in(page, hr.email, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Add people").click()
    page.get_by_role("navigation", name="Ways to add people").get_by_role("link", name="Set multiple accounts").click()
    expect(page).to_have_title("Set multiple accounts · LMS")
    paste_box = page.get_by_label("Paste the rows")
    paste_box.fill("\n".join(lines) + "\n")
    expect(page.get_by_label("All or nothing: import no row if any row has an error")).not_to_be_checked()
    snapshot(page, "roster-1-paste")
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("heading", level=1, name="Preview: 30 rows")).to_be_visible()
    summary = page.get_by_role("region", name="What the import will do")
    expect(summary).to_contain_text("27 accounts to create")
    expect(summary).to_contain_text("3 rows with errors (they will not be imported)")
    expect(page.get_by_role("button", name="Import 27 rows")).to_be_visible()
    rows = page.get_by_role("region", name="Rows").get_by_role("row")
    expect(rows).to_have_count(31)  # the header row and 30 rows

    def row_at(line):
        # On a phone the table stacks, each cell headed by its column: "Line 23".
        return rows.filter(has=page.get_by_role("cell", name=re.compile(rf"^(Line )?{line}$")))

    def cell_at(line, column):
        headers = rows.first.get_by_role("columnheader").all_inner_texts()
        return row_at(line).get_by_role("cell").nth(headers.index(column))

    expected_errors = [
        (BAD_EMAIL_LINE, "email", BAD_EMAIL, f"'{BAD_EMAIL}' is not a valid email address"),
        (BAD_GROUP_LINE, "groups", BAD_GROUP, f"Unknown group: {BAD_GROUP} (use a group id or its exact name)."),
        (SHORT_PASSWORD_LINE, "password", "••••••", "The password must be at least 8 characters long."),
    ]
    for line, column, shown_value, message in expected_errors:
        expect(row_at(line)).to_have_count(1)
        expect(row_at(line).get_by_role("cell").nth(1)).to_have_text(f"Error in {column}")
        # The message is in the cell of the wrong value, under it.
        expect(cell_at(line, column)).to_contain_text(shown_value)
        expect(cell_at(line, column)).to_contain_text(message)
    expect(cell_at(SHORT_PASSWORD_LINE, "password")).not_to_contain_text(SHORT_PASSWORD)  # never shown
    expect(row_at(2)).to_contain_text("Create")
    snapshot(page, "roster-2-preview-errors")
    # Scrolled to its far right, the table still shows each row's line and action.
    table = page.get_by_role("region", name="Rows of the roster")
    table.evaluate("region => region.scrollLeft = region.scrollWidth")
    assert table.evaluate("region => region.scrollLeft") > 0, "the preview should be wider than the page here"
    left = table.bounding_box()["x"]
    for header in ("Line", "Action"):
        assert page.get_by_role("columnheader", name=header).bounding_box()["x"] >= left - 1, header
    page.screenshot(path=str(SCREENSHOTS / "roster-2b-preview-scrolled.png"))

    # Only the rows with errors (the tab swaps the table in place).
    page.get_by_role("link", name="Errors (3)").click()
    expect(page.get_by_role("link", name="Errors (3)")).to_have_attribute("aria-current", "page")
    expect(rows).to_have_count(4)
    htmx_settled(page)
    page.set_viewport_size(PHONE)
    expect(row_at(SHORT_PASSWORD_LINE)).to_be_visible()
    snapshot(page, "roster-3-preview-errors-phone")
    page.set_viewport_size({"width": 1280, "height": 720})

    # Fix two of the three in the paste box and preview again.
    page.get_by_role("button", name="Edit the rows and preview again").click()
    pasted = paste_box.input_value()
    assert BAD_EMAIL in pasted and BAD_GROUP + "\t" in pasted
    paste_box.fill(pasted.replace(BAD_EMAIL, FIXED_EMAIL).replace(BAD_GROUP + "\t", FIXED_GROUP + "\t"))
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("heading", level=1, name="Preview: 30 rows")).to_be_visible()
    expect(summary).to_contain_text("29 accounts to create")
    expect(summary).to_contain_text("1 row with errors (they will not be imported)")
    expect(page.get_by_role("link", name="Errors (1)")).to_be_visible()
    expect(row_at(BAD_EMAIL_LINE)).to_contain_text(FIXED_EMAIL)
    expect(row_at(BAD_EMAIL_LINE)).to_contain_text("Create")
    expect(row_at(BAD_GROUP_LINE)).to_contain_text("Create")
    expect(row_at(SHORT_PASSWORD_LINE)).to_contain_text("The password must be at least 8 characters long.")

    # Import, watch the progress, read the report. The job page is recorded each time its
    # progress region changes, as the import may run faster than anyone can look.
    page.add_init_script(PROGRESS_RECORDER)
    page.get_by_role("button", name="Import 29 rows").click()
    expect(page.get_by_role("heading", level=1, name="Import")).to_be_visible()
    expect(page.get_by_text("Pasted rows · 30 rows")).to_be_visible()
    progress = page.locator("[aria-live=polite]").get_by_role("region")
    expect(progress).to_have_count(1)  # the progress, polled, then the report in the same place
    report = page.get_by_role("region", name="Report")
    expect(report).to_be_visible(timeout=30_000)
    expect(page.get_by_role("progressbar")).to_have_count(0)
    seen = page.evaluate("window.__progress")
    assert seen[-1] == "Report", seen
    assert all(PROGRESS_STATE.fullmatch(state) for state in seen[:-1]), seen
    for label, count in (("Created", 29), ("Updated", 0), ("Skipped (already had an account)", 0), ("Rejected", 1)):
        expect(report.get_by_role("row", name=f"{label} {count}", exact=True)).to_be_visible()
    expect(report.get_by_role("heading", name="Rejected rows")).to_be_visible()
    rejected = report.get_by_role("row").filter(
        has=page.get_by_role("cell", name=re.compile(rf"^(Line )?{SHORT_PASSWORD_LINE}$")))
    expect(rejected).to_have_count(1)
    expect(rejected).to_contain_text("password")
    expect(rejected).to_contain_text("The password must be at least 8 characters long.")
    snapshot(page, "roster-4-report")

    # Download the rejected rows: the bad row, after a comment saying why.
    with page.expect_download() as download_info:
        report.get_by_role("link", name="Download rejected rows").click()
    download = download_info.value
    assert download.suggested_filename.startswith("rejected-rows-import-") and download.suggested_filename.endswith(".csv")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert any(f"line {SHORT_PASSWORD_LINE}, password: The password must be at least 8 characters long." in comment
               for comment in comments), text
    data = list(csv.reader(io.StringIO("\n".join(line for line in text.splitlines() if not line.startswith("#")))))
    assert data[0] == HEADER, text
    assert len(data) == 2, text
    bad_row = dict(zip(data[0], data[1], strict=True))
    wrong = lines[SHORT_PASSWORD_LINE - 1].split("\t")
    assert bad_row["email"] == wrong[2] and bad_row["last_name"] == wrong[0] and bad_row["groups"] == wrong[8], text
    assert bad_row["password"] == "", text  # passwords are not kept, as a comment says
    assert any("Passwords are not kept" in comment for comment in comments), text

    # What the report says is what was written.
    db.session.expire_all()
    roster_emails = [line.split("\t")[2] for line in lines[1:]]
    roster_emails[BAD_EMAIL_LINE - 2] = FIXED_EMAIL
    created = db.session.scalars(select(User).where(User.email.in_(roster_emails))).all()
    assert len(created) == 29
    assert db.session.scalar(select(func.count()).select_from(User)) == 30  # and HR
    assert wrong[2] not in {user.email for user in created}
    by_email = {user.email: user for user in created}
    groups = group_names_by_user([user.id for user in created])
    assert sorted(groups[by_email[FIXED_EMAIL].id]) == ["Sales North", "Sales South"]
    fixed_group_email = lines[BAD_GROUP_LINE - 1].split("\t")[2]
    assert groups[by_email[fixed_group_email].id] == ["Sales North"]
