"""The invite link's doors in a real browser: a trainer makes a 2-place link for a session and
gets its QR code; on a phone, a newcomer opens the link, signs up and confirms by email; the
link's page then counts them; the trainer changes its maximum uses in place. Every page is
checked with axe-core."""
import io
import re
from datetime import timedelta

import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from lms.clock import utcnow
from lms.due_work import run_due
from lms.extensions import db
from lms.programs.services import create_program, create_session
from tests.conftest import PASSWORD
from tests.e2e.conftest import PHONE, add_user, sign_in, snapshot, stays_on_page, still_same_page


def test_a_newcomer_on_a_phone_joins_a_session_through_its_qr_code(page, browser, site, mailbox, base_url):
    now = utcnow()
    trainer = add_user("tom.trainer@example.com", role="manager", first_name="Tom", last_name="Trainer",
                       password=PASSWORD, now=now)
    program = create_program("Workplace Safety", owner=trainer, now=now)
    create_session(program, name="Spring session", starts_at=now + timedelta(days=14),
                   ends_at=now + timedelta(days=15), trainers=[trainer], actor=trainer, now=now)
    db.session.commit()

    sign_in(page, trainer.email, PASSWORD)
    page.get_by_role("link", name="Programs").click()
    page.get_by_role("link", name="Workplace Safety").click()
    page.get_by_role("link", name="Spring session").click()
    page.get_by_role("button", name="Share a sign-up link or QR code").click()
    page.get_by_label("Maximum uses").fill("2")
    snapshot(page, "link-1-new")
    page.get_by_role("button", name="Create the link").click()
    expect(page.get_by_text("Link created.")).to_be_visible()
    address = page.get_by_label("Address of the link").input_value()
    assert address.startswith(f"{base_url}/join/")
    expect(page.get_by_text("0 of 2 (2 left)")).to_be_visible()
    snapshot(page, "link-2-page")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download PNG (1,200 px)").click()
    image = Image.open(io.BytesIO(download.value.path().read_bytes()))
    assert image.size == (1200, 1200)
    (scanned,) = zxingcpp.read_barcodes(image)
    assert scanned.text == address

    phone = browser.new_context(viewport=PHONE, base_url=base_url).new_page()
    phone.goto(scanned.text)
    expect(phone.get_by_role("heading", level=1, name="Join this session")).to_be_visible()
    expect(phone.get_by_text("2 places left.")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= innerWidth"), "the page scrolls sideways"
    snapshot(phone, "link-3-landing-phone")
    phone.get_by_label("Email").first.fill("nia.newbie@example.com")
    phone.get_by_label("First name").fill("Nia")
    phone.get_by_label("Last name").fill("Newbie")
    phone.get_by_role("button", name="Create my account").click()
    expect(phone.get_by_role("heading", name="Check your inbox")).to_be_visible()
    snapshot(phone, "link-4-check-inbox-phone")

    run_due(now=utcnow())  # the scheduler's tick sends the confirmation email
    db.session.commit()
    (email,) = mailbox.to("nia.newbie@example.com")
    link = re.search(r"http://\S+/join/confirm/\S+", email.get_body(("plain",)).get_content()).group(0)
    phone.goto(link)
    snapshot(phone, "link-5-confirm-phone")
    phone.get_by_label("Password", exact=True).fill("my-own-secret-1")  # only the address's owner gets here
    phone.get_by_label("Password again").fill("my-own-secret-1")
    phone.get_by_role("button", name="Confirm and join").click()
    expect(phone.get_by_text("You are invited to Workplace Safety – Spring session")).to_be_visible()

    page.reload()
    expect(page.get_by_text("1 of 2 (1 left)")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="nia.newbie@example.com")).to_be_visible()
    phone.context.close()

    # The terms change in place (the address stays): the link is made full, then given more room.
    stays_on_page(page)
    page.get_by_role("button", name="Edit the terms").click()
    page.get_by_label("Maximum uses").fill("1")
    page.get_by_role("button", name="Save the terms").click()
    expect(page.get_by_text("Terms saved: maximum uses 2 → 1.")).to_be_visible()
    expect(page.get_by_text("Full", exact=True)).to_be_visible()
    page.get_by_role("button", name="Edit the terms").click()
    page.get_by_label("Maximum uses").fill("0")
    page.get_by_role("button", name="Save the terms").click()
    expect(page.get_by_text("Enter a number from 1 to 100,000.")).to_be_visible()
    snapshot(page, "link-7-edit-terms")
    page.get_by_label("Maximum uses").fill("4")
    page.get_by_role("button", name="Save the terms").click()
    expect(page.get_by_text("Terms saved: maximum uses 1 → 4. People can join through it again")).to_be_visible()
    expect(page.get_by_text("1 of 4 (3 left)")).to_be_visible()
    expect(page.get_by_text("Active", exact=True)).to_be_visible()
    assert still_same_page(page)
    assert page.get_by_label("Address of the link").input_value() == address

    # Switching the link off asks first; saying no changes nothing.
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.get_by_role("button", name="Switch off").click()
    expect(page.get_by_text("Active", exact=True)).to_be_visible()
    page.once("dialog", lambda dialog: answer(dialog, True))
    page.get_by_role("button", name="Switch off").click()
    expect(page.get_by_text("Link switched off: it no longer lets anyone join.")).to_be_visible()
    assert len(questions) == 2 and questions[0].startswith("Switch this link off?")
    snapshot(page, "link-6-switched-off")
