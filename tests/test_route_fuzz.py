"""Every route, with hostile values in its path, its query string and its form fields, as an
admin, a trainer and a visitor: whatever arrives, the answer is a page or a refusal, never a
500. The field names are the ones the pages themselves render (and the query parameters the
views read), so the values reach the code that reads them; a valid CSRF token rides along."""
import re
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import AnyConverter, IntegerConverter

from lms.accounts.models import User
from lms.extensions import db
from tests.conftest import htmx_headers, login
from tests.test_authorization import world  # noqa: F401  (the fixture: one of everything)

HOSTILE = [
    "", " ", "²", "٣", "-1", "0", "1.5", "1e309", "NaN", "99999999999999999999", str(2**31), str(2**63),
    "\x00", "a\x00b", "\ud800".encode("utf-8", "surrogatepass"), b"\xff\xfe\xfd", "%", "%%32%35",
    "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "=1+1", "9999-12-31", "0000-00-00",
    "2026-02-30", "true", "[]", "{}", "x" * 100_000, "x" * 10_000_000,
]
QUERY_NAMES = ["page", "q", "status", "show", "format", "group", "session", "from", "size", "download", "next",
               "edit", "role", "target", "token"]
ID_FIELDS = {"user_id": "target", "group_id": "group", "invitation_id": "invitation", "email_id": "email",
             "program_id": "program", "session_id": "session", "job_id": "draft", "link_id": "link",
             "enrollment_id": "session", "token_id": "scim_token"}
SKIPPED = {"static", "accounts.logout"}  # logout would end the signed-in runs early; tested on its own


def values():
    return st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40), st.integers().map(str))


def _rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint not in SKIPPED]


def _field_names(app, admin_client, world):
    """The names of every input, select and textarea the GET pages render, with the query names."""
    names = set(QUERY_NAMES)
    for rule in _rules(app):
        if "GET" not in rule.methods or rule.arguments - set(ID_FIELDS):
            continue
        path = rule.build({name: getattr(world, ID_FIELDS[name]) for name in rule.arguments})[1]
        response = admin_client.get(path)
        if response.mimetype != "text/html":  # downloads, images
            continue
        body = response.get_data(as_text=True)
        names.update(re.findall(r'<(?:input|select|textarea|button)[^>]*\sname="([^"]+)"', body))
    return sorted(names - {"csrf_token"})


@pytest.fixture
def fuzz(app, admin, make_user, world):  # noqa: F811
    admin_client = login(app.test_client(), admin)
    trainer = db.session.get(User, world.trainer)
    clients = {"admin": admin_client, "trainer": login(app.test_client(), trainer), "visitor": app.test_client()}
    return clients, _rules(app), _field_names(app, admin_client, world)


def _path(rule, draw, world):  # noqa: F811
    built = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        if isinstance(converter, AnyConverter):
            built[name] = draw(st.sampled_from(sorted(converter.items)))
        elif isinstance(converter, IntegerConverter):
            real = getattr(world, ID_FIELDS.get(name, "target"))
            built[name] = draw(st.sampled_from([real, real, 1, 2**31, 10**20]))
        else:
            built[name] = draw(st.sampled_from([world.token, "x"] + [h for h in HOSTILE if isinstance(h, str) and h]))
    path = rule.rule
    for name, value in built.items():
        path = re.sub(r"<(?:[^:<>]+:)?" + name + ">", quote(str(value), safe=""), path)
    return path


@pytest.mark.parametrize("who", ["admin", "trainer", "visitor"])
@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_no_route_answers_hostile_input_with_a_500(fuzz, world, who, data):  # noqa: F811
    clients, rules, names = fuzz
    rule = data.draw(st.sampled_from(rules), label="route")
    method = data.draw(st.sampled_from(sorted(rule.methods - {"HEAD", "OPTIONS"})), label="method")
    path = _path(rule, data.draw, world)
    fields = data.draw(st.lists(st.tuples(st.sampled_from(names), values()), max_size=6), label="fields")
    query = data.draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES), values()), max_size=3), label="query")
    target = data.draw(st.sampled_from([None, "registration", "user-table", "x"]), label="hx-target")

    response = clients[who].open(
        path + ("?" + urlencode(query) if query else ""), method=method,
        data=urlencode(fields) if method != "GET" else None,
        content_type="application/x-www-form-urlencoded" if method != "GET" else None,
        headers=htmx_headers(target) if target else None)

    assert response.status_code < 500, f"{method} {path} as {who}: {response.status_code}"
    response.close()
