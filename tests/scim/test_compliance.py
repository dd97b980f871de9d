"""scim2-tester's compliance checks (RFC 7643/7644) against /scim/v2, on each backend: in the
process (each check named when it fails) and over HTTP with scim2-cli's `scim2 test`, as an
integrator would run it against their platform."""
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import check_server
from werkzeug.serving import make_server

from tests.conftest import free_port

SCIM2_CLI = Path(sys.executable).with_name("scim2")


def test_scim2_tester_finds_no_error_and_skips_nothing(app, scim_token):
    client = WSGISCIMClient(app, base_url="http://localhost/scim/v2",
                            headers={"Authorization": f"Bearer {scim_token}"})
    client.discover()

    results = check_server(client)

    problems = [f"{result.title}: {result.reason}" for result in results if result.status.name != "SUCCESS"]
    assert problems == []
    assert Counter(result.status.name for result in results)["SUCCESS"] >= 60


@pytest.fixture
def served(app):
    """The app on a free loopback port, served by threads of its own."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="scim-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join()


def test_scim2_cli_test_passes_over_http(served, scim_token):
    # The token travels in the environment, as the CLI advises: not on a command line others can read.
    environment = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {scim_token}"}

    result = subprocess.run([str(SCIM2_CLI), "--url", f"{served}/scim/v2", "test"], capture_output=True,
                            text=True, timeout=600, env=environment)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("SUCCESS") >= 60 and "ERROR" not in result.stdout, result.stdout[-3000:]
