"""A SCIM client of the app, as an identity provider is one: a token of its own, JSON bodies."""
import json

import pytest

from lms.extensions import db
from lms.scim.tokens import create_token
from tests.conftest import NOW

SCIM = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class ScimClient:
    def __init__(self, app, token):
        self.client = app.test_client()
        self.token = token

    def request(self, method, path, body=None, *, token=None, headers=None, raw=None):
        sent = {"Authorization": f"Bearer {token or self.token}", "Content-Type": SCIM, **(headers or {})}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.client.open("/scim/v2" + path, method=method, data=data, headers=sent)

    def get(self, path, **options):
        return self.request("GET", path, **options)

    def post(self, path, body, **options):
        return self.request("POST", path, body, **options)

    def put(self, path, body, **options):
        return self.request("PUT", path, body, **options)

    def patch(self, path, *operations, **options):
        return self.request("PATCH", path, {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}, **options)

    def delete(self, path, **options):
        return self.request("DELETE", path, **options)

    def create_user(self, email, *, given="Ada", family="Lovelace", **fields):
        response = self.post("/Users", {"schemas": [USER_SCHEMA], "userName": email, "active": True,
                                        "name": {"givenName": given, "familyName": family},
                                        "emails": [{"value": email, "type": "work", "primary": True}], **fields})
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.json

    def create_group(self, name, members=(), **fields):
        response = self.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": name,
                                         "members": [{"value": member} for member in members], **fields})
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.json


@pytest.fixture
def scim_token(app):
    row, token = create_token("Entra ID", actor=None, now=NOW)
    db.session.commit()
    return token


@pytest.fixture
def scim(app, scim_token):
    return ScimClient(app, scim_token)
