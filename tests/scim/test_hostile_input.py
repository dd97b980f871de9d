"""Whatever a provider (or someone holding its token) sends, the answer is a SCIM response, never
a 500, and a refused request writes nothing."""
import pytest

from lms.accounts.models import User
from lms.enrollment.groups.models import Group, GroupMembership
from tests.conftest import count
from tests.scim.conftest import GROUP_SCHEMA, USER_SCHEMA

HOSTILE = ["", " ", "\x00", "a\x00b", "x" * 300, "x" * 100_000, "'; DROP TABLE users; --", "../../etc/passwd",
           "<script>alert(1)</script>", "99999999999999999999", "-1", "٣", "=1+1", "ǅ" * 200]
LONE_SURROGATE = "\ud800"  # JSON can carry it; a URL cannot (the test client refuses to encode it)


@pytest.mark.parametrize("value", HOSTILE + [LONE_SURROGATE])
def test_hostile_values_in_user_attributes_are_refused_or_kept_never_a_500(app, scim, value):
    bodies = [
        {"schemas": [USER_SCHEMA], "userName": value, "active": True},
        {"schemas": [USER_SCHEMA], "userName": "ok@example.com", "active": True, "name": {"givenName": value}},
        {"schemas": [USER_SCHEMA], "userName": "ok2@example.com", "active": True, "externalId": value},
        {"schemas": [USER_SCHEMA], "userName": "ok3@example.com", "active": value, "emails": [{"value": value}]},
        {"schemas": [USER_SCHEMA], "userName": "ok4@example.com", "active": True, "preferredLanguage": value},
    ]
    for body in bodies:
        response = scim.post("/Users", body)
        assert response.status_code in (201, 400, 409, 413), (body, response.get_data(as_text=True))
        assert response.headers["Content-Type"] == "application/scim+json"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_ids_filters_and_paths_get_scim_answers(app, scim, value):
    user = scim.create_user("victim@example.com")
    group = scim.create_group("Target", [user["id"]])
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    requests = [
        ("GET", f"/Users/{value}", None),
        ("GET", f"/Groups/{value}", None),
        ("GET", f'/Users?filter=userName eq "{quoted}"', None),
        ("GET", f'/Users?filter=id eq "{quoted}" or externalId co "{quoted}"', None),
        ("GET", f'/Groups?filter=members[value eq "{quoted}"]', None),
        ("GET", f"/Users?filter={value}", None),
        ("GET", f"/Users?startIndex={value}&count={value}", None),
        ("GET", f"/Users?attributes={value}", None),
        ("PATCH", f"/Users/{user['id']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                            "Operations": [{"op": "replace", "path": value, "value": value}]}),
        ("PATCH", f"/Groups/{group['id']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                              "Operations": [{"op": "add", "path": "members",
                                                              "value": [{"value": value}]}]}),
        ("PUT", f"/Groups/{group['id']}", {"schemas": [GROUP_SCHEMA], "displayName": value,
                                            "members": [{"value": user["id"]}]}),
        ("DELETE", f"/Groups/{value}", None),
    ]
    for method, path, body in requests:
        response = scim.request(method, path, body)
        assert response.status_code < 500, (method, path, response.get_data(as_text=True)[:500])
        assert response.headers["Content-Type"] == "application/scim+json", (method, path)
    assert count(User) == 1 and count(GroupMembership) == 1
    assert [group.name for group in Group.query.all()] in (["Target"], [value.strip()]) or value.strip() == ""
