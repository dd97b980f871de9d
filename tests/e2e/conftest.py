"""Browser tests: the app served by a real server thread on a free loopback port, with its own
SQLite database and SMTP server, driven by Debian's Chromium through Playwright (pytest-
playwright's `page`), each page checked with axe-core.

`make test` installs Chromium (apt-get) and axe-core (npm) when they are missing. Screenshots
of the journeys' key pages go to tests/e2e/screenshots/ (git-ignored).
"""
import json
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from lms import create_app
from lms.config import config_for_testing
from lms.extensions import db, limiter
from tests.conftest import SmtpServer, free_port, new_user

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items):
    missing = [str(path) for path in (CHROMIUM, AXE) if not path.exists()]
    if missing:
        skip = pytest.mark.skip(reason=f"{', '.join(missing)} missing: `make test` installs them")
        for item in items:
            if "tests/e2e/" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": ARGS}


@pytest.fixture(scope="session")
def mailbox():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_app(tmp_path_factory, mailbox):
    """The app as `make run` serves it (CSRF on, imports in a background thread), on its own port."""
    instance = tmp_path_factory.mktemp("e2e")
    port = free_port()
    config = config_for_testing(str(instance), f"sqlite:///{instance / 'e2e.sqlite3'}")
    config.BASE_URL = f"http://127.0.0.1:{port}"
    config.MAIL_SERVER, config.MAIL_PORT = "127.0.0.1", mailbox.port
    config.LMS_IMPORT_IN_BACKGROUND = True
    app = create_app(config)
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    yield app
    server.shutdown()
    thread.join()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def base_url(live_app):
    return live_app.config["BASE_URL"]


@pytest.fixture
def site(live_app, mailbox):
    """An app context to set up data in (commit it: the server reads its own sessions); every
    table is emptied and the mailbox cleared afterwards."""
    with live_app.app_context():
        yield live_app
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
    mailbox.messages.clear()
    limiter.reset()


@pytest.fixture
def page(page, base_url):
    """pytest-playwright's page; when the test is done, every page of the app it navigated to
    is opened again and checked with axe-core (the key states are checked as they happen,
    by snapshot())."""
    visited, refused = [], []

    def note(frame):
        if frame == page.main_frame and frame.url.startswith(base_url):
            visited.append(frame.url)

    def csp(message):  # Chromium says so in the console when the page's CSP blocks anything
        if "Content Security Policy" in message.text:
            refused.append(f"{page.url}: {message.text}")

    page.on("framenavigated", note)
    page.on("console", csp)
    yield page
    page.remove_listener("framenavigated", note)
    page.set_viewport_size({"width": 1280, "height": 720})
    for url in dict.fromkeys(visited):
        page.goto(url)
        check_accessibility(page, url.removeprefix(base_url))
    page.remove_listener("console", csp)
    assert not refused, "the Content-Security-Policy blocked:\n" + "\n".join(refused)


def check_accessibility(page, name):
    """axe-core on the page as it stands: no serious or critical violation. Evaluated through
    the browser's debugging protocol, which the page's CSP does not govern (a script tag would
    be refused, as it should)."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [{"id": violation["id"], "impact": violation["impact"], "help": violation["help"],
                "nodes": [node["target"] for node in violation["nodes"]][:5]}
               for violation in result["violations"] if violation["impact"] in ("serious", "critical")]
    assert not serious, f"{name}: " + json.dumps(serious, indent=1)


def snapshot(page, name, *, accessible=True):
    """Save a full-page screenshot of a key page (and check it with axe-core)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if accessible:
        check_accessibility(page, name)


def sign_in(page, email, password):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def add_user(email, *, role="learner", first_name="", last_name="", password=None, now):
    """An active account (committed), without a password unless given one."""
    return new_user(email, role=role, first_name=first_name, last_name=last_name, password=password, now=now)


def stays_on_page(page):
    """Mark the document; `still_same_page(page)` is then True only if no full navigation happened."""
    page.evaluate("window.__samePage = true")


def still_same_page(page):
    return page.evaluate("window.__samePage === true")


def htmx_settled(page):
    """Wait until htmx has swapped and processed the new content (its requests, swaps and
    settling mark elements with these classes), so the next input reaches a live element."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')")
