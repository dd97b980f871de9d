"""Who may use the admin pages: anonymous visitors are sent to sign in, learners and managers
get 403 without seeing anything private, admins are served. One table lists every admin route."""
from typing import Callable, NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from lms.accounts.models import User, UserLabel, UserStatus
from lms.enrollment.models import Group, GroupMembership
from lms.extensions import db
from tests.conftest import htmx_headers


class World(NamedTuple):
    target: int
    dormant: int
    outsider: int
    group: int
    public_id: str


# What a learner or a manager must never see of the world.
PRIVATE = [
    "target@example.com", "Zelda", "Targetson", "Confidential",
    "dormant@example.com", "outsider@example.com", "Otto", "Secret Cohort",
]


@pytest.fixture
def world(make_user, make_group):
    target = make_user("target@example.com", first_name="Zelda", last_name="Targetson",
                       labels=["Confidential"])
    dormant = make_user("dormant@example.com", first_name="Dora", last_name="Dormant",
                        status=UserStatus.deactivated)
    outsider = make_user("outsider@example.com", first_name="Otto", last_name="Outsider")
    group = make_group("Secret Cohort", members=[target])
    return World(target.id, dormant.id, outsider.id, group.id, group.public_id)


def _user(user_id):
    return db.session.get(User, user_id)


def _is_member(group_id, user_id):
    return db.session.get(GroupMembership, (group_id, user_id)) is not None


class Route(NamedTuple):
    method: str
    path: str
    data: dict | None = None
    target: str | None = None  # the HX-Target of an htmx request, None for a plain one
    admin_status: int = 200
    admin_sees: str | bytes | None = None  # GET: what the admin's response contains
    done: Callable[[World], bool] | None = None  # POST: the change an admin's request makes


EDIT = {
    "first_name": "Changed", "last_name": "Targetson", "language": "en", "role": "learner",
    "labels": "Confidential", "additional_info": "", "deactivate_on": "", "groups": "{group}",
}

ROUTES = {
    "user list": Route("GET", "/admin/users", admin_sees="target@example.com"),
    "user list (htmx)": Route("GET", "/admin/users?q=zelda", target="user-table",
                              admin_sees="target@example.com"),
    "export csv": Route("GET", "/admin/users/export?format=csv", admin_sees="target@example.com"),
    "export xlsx": Route("GET", "/admin/users/export?format=xlsx", admin_sees=b"PK\x03\x04"),
    "export group csv": Route("GET", "/admin/users/export?format=csv&group={group}",
                              admin_sees="target@example.com"),
    "user page": Route("GET", "/admin/users/{target}", admin_sees="target@example.com"),
    "user edit": Route("POST", "/admin/users/{target}", EDIT, admin_status=303,
                       done=lambda w: _user(w.target).first_name == "Changed"),
    "user edit (htmx)": Route("POST", "/admin/users/{target}", EDIT, target="user-form",
                              done=lambda w: _user(w.target).first_name == "Changed"),
    "user deactivate": Route("POST", "/admin/users/{target}/deactivate", admin_status=303,
                             done=lambda w: _user(w.target).status == UserStatus.deactivated),
    "user deactivate (htmx)": Route(
        "POST", "/admin/users/{target}/deactivate", target="user-status",
        done=lambda w: _user(w.target).status == UserStatus.deactivated),
    "user reactivate": Route("POST", "/admin/users/{dormant}/reactivate", admin_status=303,
                             done=lambda w: _user(w.dormant).status == UserStatus.active),
    "group list": Route("GET", "/admin/groups", admin_sees="Secret Cohort"),
    "group create": Route(
        "POST", "/admin/groups", {"name": "Brand New Cohort"}, admin_status=303,
        done=lambda w: db.session.scalar(sa.select(Group).filter_by(name="Brand New Cohort"))
        is not None),
    "group create (htmx)": Route(
        "POST", "/admin/groups", {"name": "Brand New Cohort"}, target="group-create",
        done=lambda w: db.session.scalar(sa.select(Group).filter_by(name="Brand New Cohort"))
        is not None),
    "group page": Route("GET", "/admin/groups/{group}", admin_sees="Secret Cohort"),
    "group members (htmx)": Route("GET", "/admin/groups/{group}", target="group-members",
                                  admin_sees="target@example.com"),
    "group name": Route("GET", "/admin/groups/{group}/name?edit=1", admin_sees="Secret Cohort"),
    "group rename": Route("POST", "/admin/groups/{group}/name", {"name": "Renamed Cohort"},
                          admin_status=303,
                          done=lambda w: db.session.get(Group, w.group).name == "Renamed Cohort"),
    "group rename (htmx)": Route(
        "POST", "/admin/groups/{group}/name", {"name": "Renamed Cohort"}, target="group-name",
        done=lambda w: db.session.get(Group, w.group).name == "Renamed Cohort"),
    "group delete": Route("POST", "/admin/groups/{group}/delete", admin_status=303,
                          done=lambda w: db.session.get(Group, w.group) is None),
    "member candidates": Route("GET", "/admin/groups/{group}/candidates?q=outsider",
                               admin_sees="outsider@example.com"),
    "member candidates (htmx)": Route("GET", "/admin/groups/{group}/candidates?q=outsider",
                                      target="member-candidates", admin_sees="outsider@example.com"),
    "member add": Route("POST", "/admin/groups/{group}/members", {"user_id": "{outsider}"},
                        admin_status=303, done=lambda w: _is_member(w.group, w.outsider)),
    "member add (htmx)": Route("POST", "/admin/groups/{group}/members", {"user_id": "{outsider}"},
                               target="group-members",
                               done=lambda w: _is_member(w.group, w.outsider)),
    "member remove": Route("POST", "/admin/groups/{group}/members/{target}/remove",
                           admin_status=303, done=lambda w: not _is_member(w.group, w.target)),
    "member remove (htmx)": Route("POST", "/admin/groups/{group}/members/{target}/remove",
                                  target="group-members",
                                  done=lambda w: not _is_member(w.group, w.target)),
}


def send(client, route, world):
    values = world._asdict()
    data = {key: value.format(**values) for key, value in (route.data or {}).items()}
    return client.open(
        route.path.format(**values),
        method=route.method,
        data=data if route.method == "POST" else None,
        headers=htmx_headers(route.target) if route.target else None,
    )


def snapshot():
    """Everything an admin route can change, read fresh from the database."""
    db.session.expire_all()
    return (
        db.session.execute(
            sa.select(User.id, User.email, User.first_name, User.last_name, User.language,
                      User.role, User.status, User.deactivate_on, User.additional_info)
            .order_by(User.id)
        ).all(),
        db.session.execute(
            sa.select(UserLabel.user_id, UserLabel.label).order_by(UserLabel.user_id, UserLabel.label)
        ).all(),
        db.session.execute(sa.select(Group.id, Group.name).order_by(Group.id)).all(),
        db.session.execute(
            sa.select(GroupMembership.group_id, GroupMembership.user_id)
            .order_by(GroupMembership.group_id, GroupMembership.user_id)
        ).all(),
    )


route_params = pytest.mark.parametrize("route", ROUTES.values(), ids=ROUTES.keys())


@route_params
def test_anonymous_visitor_is_sent_to_sign_in(client, world, route):
    before = snapshot()

    response = send(client, route, world)

    assert response.status_code == 302
    location = urlsplit(response.location)
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == [route.path.format(**world._asdict())]
    assert snapshot() == before


@route_params
@pytest.mark.parametrize("role", ["learner", "manager"])
def test_learner_and_manager_are_refused(request, world, route, role):
    role_client = request.getfixturevalue(f"{role}_client")
    before = snapshot()

    response = send(role_client, route, world)

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert "Your account does not have access to this page." in body
    for private in PRIVATE + [world.public_id]:
        assert private not in body
    assert snapshot() == before
    if route.done is not None:
        assert not route.done(world)


@route_params
def test_admin_is_served(admin_client, world, route):
    before = snapshot()

    response = send(admin_client, route, world)

    assert response.status_code == route.admin_status, response.get_data(as_text=True)
    if route.admin_sees is not None:
        expected = route.admin_sees.encode() if isinstance(route.admin_sees, str) else route.admin_sees
        assert expected in response.data
    if route.target is not None and route.method == "GET":
        assert b"<html" not in response.data
    if route.done is not None:
        db.session.expire_all()
        assert route.done(world)
        assert snapshot() != before
    else:
        assert snapshot() == before


def test_home_page_requires_sign_in(client, make_user):
    response = client.get("/")

    assert response.status_code == 302
    assert response.location == "/login?next=%2F"
    login_page = client.get(response.location)
    assert "Please sign in to open that page." in login_page.get_data(as_text=True)


def test_signed_in_learner_gets_their_home_page(learner_client):
    response = learner_client.get("/")

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "My groups" in body
    assert "Manage users" not in body
