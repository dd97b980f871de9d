"""Every list page does work bounded by its page, not by the data: the same number of SQL
statements, and the same number of rows loaded as objects, with 120 people as with 360 (both
more than a page of 50). A page that lazy-loads a relation per row, counts per group, or
renders every registration fails here. bench/pages.py measures the time at 100,000."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from lms.accounts.models import Role, User
from lms.enrollment.groups.models import Group
from lms.enrollment.groups.services import add_group_members, create_group
from lms.enrollment.invitations.services import cancel_invitations, invite_people
from lms.extensions import db
from lms.notifications.dispatcher import dispatch_due_emails
from lms.programs.cascade import assign_group
from lms.programs.services import create_program, create_session
from tests.conftest import NOW, login, new_user


def build(size):
    """`size` invited people (their invitations, emails, audit events), half cancelled, all in
    one group assigned to a session; returns the ids the pages need."""
    admin = new_user("admin@example.com", role=Role.admin, first_name="Ada", last_name="Admin")
    people = invite_people([f"person{n:04}@example.com" for n in range(size)], actor=admin, now=NOW).invitations
    cancel_invitations(people[: size // 2], actor=admin, now=NOW)
    group = create_group("Everyone", actor=admin, now=NOW)
    add_group_members(group, [invitation.user_id for invitation in people], actor=admin, now=NOW)
    program = create_program("Safety", owner=admin, now=NOW)
    session = create_session(program, name="Spring", starts_at=NOW + timedelta(days=30), actor=admin, now=NOW)
    assign_group(session, group, actor=admin, now=NOW)
    db.session.commit()
    dispatch_due_emails(now=NOW)
    return admin, {"group": group.id, "session": session.id, "user": people[-1].user_id}


PAGES = [
    "/admin/users",
    "/admin/users?q=person",
    "/admin/users/{user}",
    "/admin/invitations",
    "/admin/invitations?status=cancelled",
    "/admin/outbox",
    "/admin/groups",
    "/admin/groups/{group}",
    "/sessions/{session}",
    "/sessions/{session}?status=invited&q=person",
    "/admin/audit",
    "/",
]


MOST_STATEMENTS = 15  # a page that loads a relation row by row runs 50 more


def cost_of(client, path):
    """(SQL statements, rows loaded as ORM objects) of one request for `path`."""
    statements, loaded = [], []

    def count_statement(*_):
        statements.append(1)

    def count_object(*_):
        loaded.append(1)

    event.listen(db.engine, "before_cursor_execute", count_statement)
    event.listen(db.Model, "load", count_object, propagate=True)
    try:
        response = client.get(path)
    finally:
        event.remove(db.engine, "before_cursor_execute", count_statement)
        event.remove(db.Model, "load", count_object)
    assert response.status_code == 200, path
    return len(statements), len(loaded)


@pytest.fixture
def costs(app):
    def measure(size):
        admin, ids = build(size)
        client = login(app.test_client(), admin)
        for path in PAGES:  # once first: what a first request caches is not the page's cost
            client.get(path.format(**ids))
        result = {path: cost_of(client, path.format(**ids)) for path in PAGES}
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
        db.session.expunge_all()
        return result

    return measure


def test_list_pages_cost_the_same_with_three_times_the_people(costs):
    small, large = costs(120), costs(360)
    grown = {path: (small[path], large[path]) for path in PAGES if large[path] != small[path]}
    assert grown == {}, "(statements, objects) at 120 and at 360 people: " + repr(grown)
    chatty = {path: statements for path, (statements, _) in large.items() if statements > MOST_STATEMENTS}
    assert chatty == {}, "statements per request: " + repr(chatty)


def test_a_long_list_counts_up_to_a_limit_and_says_so(app, monkeypatch):
    import lms.web

    monkeypatch.setattr(lms.web, "COUNT_LIMIT", 100)
    admin, _ = build(160)
    client = login(app.test_client(), admin)
    page = client.get("/admin/users", query_string={"page": 3}).get_data(as_text=True)
    assert "100+ users" in page
    assert "Page 3<" in page.replace("</li>", "<") and "Page 3 of" not in page
    assert 'href="/admin/users?page=4"' in page  # 161 people: a fourth page, which counting alone would not tell
    last = client.get("/admin/users", query_string={"page": 4}).get_data(as_text=True)
    assert "Next" not in last and 'href="/admin/users?page=3"' in last


def test_a_large_group_lists_the_same_members_in_the_same_order(app, monkeypatch):
    from lms.enrollment.groups import services as groups

    admin, ids = build(120)
    for name, person in [("Émile", "person0003"), ("zoé", "person0007"), ("Anna", "person0011")]:
        db.session.execute(sa.update(User).where(User.email == f"{person}@example.com").values(first_name=name))
    db.session.commit()
    group = db.session.get(Group, ids["group"])
    joined = [user.email for user in db.session.scalars(groups.member_query(group, large=False))]
    walked = [user.email for user in db.session.scalars(groups.member_query(group, large=True))]
    assert walked == joined and len(joined) == 120
    monkeypatch.setattr(groups, "LARGE_GROUP", 100)  # this group is large now: the page walks
    client = login(app.test_client(), admin)
    page = client.get(f"/admin/groups/{ids['group']}", query_string={"page": 2}).get_data(as_text=True)
    shown = re.findall(r"person\d{4}@example\.com", page)
    assert list(dict.fromkeys(shown)) == joined[50:100]
