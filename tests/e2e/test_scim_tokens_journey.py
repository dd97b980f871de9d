"""Journey: an admin connects an identity provider: from the Users page to SCIM provisioning,
a token created and copied, the provider's first request with it, then the token revoked."""
import json
import urllib.error
import urllib.request

from playwright.sync_api import expect

from lms.clock import utcnow
from tests.conftest import PASSWORD
from tests.e2e.conftest import add_user, sign_in, snapshot


def scim_status(base_url, token):
    request = urllib.request.Request(f"{base_url}/scim/v2/Users?filter=" + urllib.request.quote('userName eq "x@y.z"'),
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_admin_creates_a_token_for_entra_and_revokes_it(page, site, base_url):
    add_user("ada@example.com", role="admin", first_name="Ada", last_name="Admin", password=PASSWORD, now=utcnow())
    sign_in(page, "ada@example.com", PASSWORD)

    page.goto("/admin/users")
    page.get_by_role("link", name="SCIM provisioning").click()
    expect(page.get_by_role("heading", name="SCIM provisioning")).to_be_visible()
    expect(page.locator("#scim-url")).to_have_text(f"{base_url}/scim/v2")
    page.get_by_label("Name").fill("Entra ID production")
    page.get_by_role("button", name="Create a token").click()

    expect(page.get_by_text("Copy it now: it is not shown again.")).to_be_visible()
    token = page.get_by_label("Token").input_value()
    snapshot(page, "scim-1-token-created")
    assert scim_status(base_url, token) == (200, {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "startIndex": 1,
        "itemsPerPage": 0, "Resources": []})

    page.goto("/admin/scim/")
    expect(page.get_by_role("cell", name="Entra ID production", exact=True)).to_be_visible()
    assert token not in page.content()
    page.get_by_role("button", name="Revoke “Entra ID production”").click()

    expect(page.get_by_text("is revoked: requests with it are refused from now on")).to_be_visible()
    snapshot(page, "scim-2-token-revoked")
    status, body = scim_status(base_url, token)
    assert status == 401 and body["status"] == "401"
