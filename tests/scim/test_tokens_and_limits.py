"""Who may call /scim/v2 and how much: a token of an admin's making (shown once, kept hashed,
revocable), bodies bounded, requests rate-limited per token; every refusal a SCIM error."""
import json

import sqlalchemy as sa

from lms.accounts.models import User
from lms.extensions import db
from lms.scim.models import ScimToken
from tests.conftest import NOW, count, database_dump
from tests.scim.conftest import USER_SCHEMA, ScimClient


def _is_scim_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/scim+json"
    body = response.json
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and body["status"] == str(status)
    return body


def test_requests_without_a_valid_token_are_401_scim_errors(app, scim):
    anonymous = app.test_client()
    refusals = [
        anonymous.get("/scim/v2/Users"),
        anonymous.get("/scim/v2/ServiceProviderConfig"),
        scim.get("/Users", token="lms_scim_not-a-real-token"),
        anonymous.get("/scim/v2/Users", headers={"Authorization": f"Basic {scim.token}"}),
        anonymous.post("/scim/v2/Users", data=json.dumps({"schemas": [USER_SCHEMA], "userName": "x@example.com"}),
                       headers={"Content-Type": "application/scim+json"}),
    ]
    for response in refusals:
        _is_scim_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert count(User) == 0


def test_a_revoked_token_stops_working_at_once(app, runner, scim):
    assert scim.get("/Users").status_code == 200
    token_id = db.session.scalar(sa.select(ScimToken.id))

    result = runner.invoke(args=["lms", "scim", "token", "revoke", str(token_id), "--json"])

    assert result.exit_code == 0 and json.loads(result.output)["revoked"] is True
    _is_scim_error(scim.get("/Users"), 401)


def test_token_create_prints_the_token_once_and_list_never_shows_it(app, runner):
    created = runner.invoke(args=["lms", "scim", "token", "create", "Okta production", "--json"])

    printed = json.loads(created.output)
    assert set(printed) == {"id", "token"} and printed["token"].startswith("lms_scim_")
    client = ScimClient(app, printed["token"])
    assert client.get("/ServiceProviderConfig").json["patch"]["supported"] is True
    listed = runner.invoke(args=["lms", "scim", "token", "list", "--json"])
    assert printed["token"] not in listed.output
    [row] = json.loads(listed.output)
    assert (row["id"], row["name"], row["revoked_at"]) == (printed["id"], "Okta production", None)
    assert row["last_used_at"] is not None
    assert printed["token"] not in database_dump("scim_tokens", "audit_events")
    assert json.loads(runner.invoke(args=["lms", "scim", "token", "create", " ", "--json"]).output)["error"]


def test_admins_create_and_revoke_tokens_on_their_page(app, admin_client, manager_client):
    page = admin_client.get("/admin/scim/").get_data(as_text=True)
    assert "http://localhost/scim/v2" in page and "No tokens yet." in page

    created = admin_client.post("/admin/scim/tokens", data={"name": "Entra ID"})

    assert created.status_code == 201
    body = created.get_data(as_text=True)
    token = body.split('id="token-value" type="text" readonly value="')[1].split('"')[0]
    assert token.startswith("lms_scim_") and "it is not shown again" in body
    assert ScimClient(app, token).get("/Users").status_code == 200
    assert token not in admin_client.get("/admin/scim/").get_data(as_text=True)
    assert manager_client.get("/admin/scim/").status_code == 403
    assert manager_client.post("/admin/scim/tokens", data={"name": "Sneaky"}).status_code == 403

    token_id = db.session.scalar(sa.select(ScimToken.id))
    assert admin_client.post(f"/admin/scim/tokens/{token_id}/revoke").status_code == 303
    assert "Revoked" in admin_client.get("/admin/scim/").get_data(as_text=True)
    assert ScimClient(app, token).get("/Users").status_code == 401
    assert admin_client.post("/admin/scim/tokens", data={"name": ""}).status_code == 400
    assert admin_client.post("/admin/scim/tokens", data={"name": "Forged"}, csrf=False).status_code == 400
    assert count(ScimToken) == 1


def test_a_body_over_the_limit_is_refused_with_413_and_nothing_written(app, scim, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_SCIM_MAX_BODY_BYTES", 1000)
    body = {"schemas": [USER_SCHEMA], "userName": "big@example.com", "active": True, "title": "x" * 2000}

    _is_scim_error(scim.post("/Users", body), 413)

    assert count(User) == 0
    assert scim.post("/Users", {**body, "title": "short"}).status_code == 201


def test_each_token_has_its_own_rate_limit(app, scim, rate_limit):
    from lms.scim.tokens import create_token

    rate_limit("LMS_SCIM_RATE_LIMIT", "3 per minute")
    _, other_token = create_token("Okta", actor=None, now=NOW)
    db.session.commit()

    statuses = [scim.get("/Users").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    refused = _is_scim_error(scim.get("/Users"), 429)
    assert "Too many requests" in refused["detail"]
    assert int(scim.get("/Users").headers["Retry-After"]) > 0
    assert ScimClient(app, other_token).get("/Users").status_code == 200


def test_malformed_bodies_are_400_scim_errors(app, scim):
    assert _is_scim_error(scim.post("/Users", None, raw="{not json"), 400)
    assert _is_scim_error(scim.post("/Users", {"schemas": [USER_SCHEMA]}), 400)
    assert _is_scim_error(scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "x@example.com",
                                              "active": "maybe"}), 400)
    assert _is_scim_error(scim.patch("/Users/1", {"op": "explode", "path": "active"}), 400)
    assert count(User) == 0
