"""The groups admin pages: list and create, a group's page, rename, delete, members."""
import re
from html import unescape

import pytest
from sqlalchemy import func, select

from lms.accounts.models import User
from lms.enrollment.groups.models import Group, GroupMembership
from lms.extensions import db
from lms.programs.models import SessionGroup
from tests.conftest import htmx_headers


def text_of(response):
    """The response body with HTML entities decoded, so quotes in messages read naturally."""
    return unescape(response.get_data(as_text=True))


def oob_block(html, element_id):
    """The content of the out-of-band element with this id, or None."""
    match = re.search(
        rf'<div id="{element_id}" hx-swap-oob="true">(.*?)</div>\s*(?:<div id=|$)', html, re.S
    )
    return match.group(1) if match else None


def groups():
    db.session.expire_all()
    return db.session.scalars(select(Group).order_by(Group.id)).all()


def member_ids(group_id):
    return set(
        db.session.scalars(
            select(GroupMembership.user_id).where(GroupMembership.group_id == group_id)
        )
    )


def assign_to_session(group, session, now):
    db.session.add(SessionGroup(session_id=session.id, group_id=group.id, created_at=now))
    db.session.commit()


# --- access -------------------------------------------------------------------------------


def test_signed_out_visitors_are_sent_to_the_login_page(client):
    response = client.get("/admin/groups")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_learners_cannot_see_or_create_groups(learner_client):
    assert learner_client.get("/admin/groups").status_code == 403
    assert learner_client.post("/admin/groups", data={"name": "Sneaky"}).status_code == 403
    assert groups() == []


def test_trainers_cannot_see_or_create_groups(manager_client):
    assert manager_client.get("/admin/groups").status_code == 403
    assert manager_client.post("/admin/groups", data={"name": "Sneaky"}).status_code == 403
    assert groups() == []


def test_a_forged_create_without_the_csrf_token_writes_nothing(admin_client):
    response = admin_client.post("/admin/groups", data={"name": "Forged"}, csrf=False)

    assert response.status_code == 400
    assert groups() == []


# --- list and create ----------------------------------------------------------------------


def test_the_list_page_shows_every_group_with_its_public_id_and_member_count(
    admin_client, make_group, make_user
):
    north = make_group("Sales North", members=[make_user(), make_user()])
    hires = make_group("New hires")

    response = admin_client.get("/admin/groups")

    html = text_of(response)
    assert response.status_code == 200
    assert "<html" in html
    rows = re.findall(r"<tr>\s*<td><a [^>]*>([^<]*)</a></td>\s*<td><code>([^<]*)</code></td>"
                      r"\s*<td>(\d+)</td>", html)
    assert rows == [("New hires", hires.public_id, "0"), ("Sales North", north.public_id, "2")]


def test_creating_a_group_through_htmx_returns_the_form_and_the_updated_table(admin_client,
                                                                             make_group):
    make_group("Alumni")

    response = admin_client.post("/admin/groups", data={"name": "Sales North"},
                                 headers=htmx_headers("group-create"))

    html = text_of(response)
    assert response.status_code == 200
    assert "<html" not in html
    (group,) = [group for group in groups() if group.name == "Sales North"]
    form = html.split('<div id="group-table"')[0]
    assert 'class="create-group"' in form
    assert 'value="Sales North"' not in form  # the form is emptied for the next group
    table = oob_block(html, "group-table")
    assert table is not None
    assert "Sales North" in table and group.public_id in table and "Alumni" in table
    assert f"its id is {group.public_id}" in html  # the flash, swapped out of band


def test_creating_a_group_without_htmx_redirects_with_a_message(admin_client):
    response = admin_client.post("/admin/groups", data={"name": "  Sales   North "})

    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/groups"
    (group,) = groups()
    assert group.name == "Sales North"
    page = text_of(admin_client.get("/admin/groups"))
    assert f"Group 'Sales North' created; its id is {group.public_id}." in page


@pytest.mark.parametrize("headers", [htmx_headers("group-create"), {}], ids=["htmx", "plain"])
@pytest.mark.parametrize("existing, duplicate", [
    ("Sales North", "sales NORTH"),
    ("Sales North", "Sales North"),
    ("Équipe Nord", "Équipe Nord"),
])
def test_a_duplicate_name_is_shown_next_to_the_field_and_nothing_is_written(
    admin_client, make_group, headers, existing, duplicate
):
    make_group(existing)

    response = admin_client.post("/admin/groups", data={"name": duplicate}, headers=headers)

    html = text_of(response)
    assert response.status_code == 422
    assert ("<html" in html) is (not headers)
    assert re.search(r'<small id="name-error" class="field-error">[^<]*already exists', html)
    assert 'aria-invalid="true"' in html
    assert oob_block(html, "group-table") is None
    assert [group.name for group in groups()] == [existing]


@pytest.mark.parametrize("name, message", [
    ("   ", "This field is required."),
    ("x" * 121, "120 characters"),
])
def test_a_blank_or_too_long_name_is_refused(admin_client, name, message):
    response = admin_client.post("/admin/groups", data={"name": name},
                                 headers=htmx_headers("group-create"))

    assert response.status_code == 422
    assert message in text_of(response)
    assert groups() == []


# --- a group's page -----------------------------------------------------------------------


def test_the_group_page_shows_its_public_id_and_members(admin_client, make_group, make_user):
    marie = make_user("marie.dubois@example.com", first_name="Marie", last_name="Dubois")
    make_user("james.smith@example.com", first_name="James", last_name="Smith")
    group = make_group("Sales North", members=[marie])

    response = admin_client.get(f"/admin/groups/{group.id}")

    html = text_of(response)
    assert response.status_code == 200
    assert "<html" in html
    assert f"<code>{group.public_id}</code>" in html
    assert "Marie Dubois" in html and "marie.dubois@example.com" in html
    assert "james.smith@example.com" not in html
    assert "1 member<" in html


@pytest.mark.parametrize("path", [
    "/admin/groups/999999",
    "/admin/groups/999999/name",
    "/admin/groups/999999/name?edit=1",
    "/admin/groups/999999/candidates?q=a",
])
def test_an_unknown_group_is_not_found(admin_client, path):
    assert admin_client.get(path).status_code == 404


@pytest.mark.parametrize("path", [
    "/admin/groups/999999/name",
    "/admin/groups/999999/delete",
    "/admin/groups/999999/members",
])
def test_posting_to_an_unknown_group_is_not_found(admin_client, make_user, path):
    user = make_user()

    response = admin_client.post(path, data={"name": "X", "user_id": user.id})

    assert response.status_code == 404
    assert groups() == []


# --- rename (click to edit) ---------------------------------------------------------------


def test_click_to_edit_shows_the_rename_form_as_a_fragment(admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.get(f"/admin/groups/{group.id}/name?edit=1",
                                headers=htmx_headers("group-name"))

    html = text_of(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert f'hx-post="/admin/groups/{group.id}/name"' in html
    assert re.search(r'<input[^>]*name="name"[^>]*value="Sales North"', html)


def test_cancelling_the_edit_shows_the_name_again(admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.get(f"/admin/groups/{group.id}/name",
                                headers=htmx_headers("group-name"))

    html = text_of(response)
    assert response.status_code == 200
    assert "<html" not in html and "<form" not in html
    assert re.search(r"<h1[^>]*>Sales North", html)


def test_renaming_through_htmx_returns_the_new_name(admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.post(f"/admin/groups/{group.id}/name", data={"name": "Sales  East"},
                                 headers=htmx_headers("group-name"))

    html = text_of(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert re.search(r"<h1[^>]*>Sales East", html)
    assert "<input" not in html.split('id="flashes"')[0]
    assert "Group renamed." in html
    assert [g.name for g in groups()] == ["Sales East"]


def test_renaming_without_htmx_redirects_to_the_group_page(admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.post(f"/admin/groups/{group.id}/name", data={"name": "Sales East"})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/groups/{group.id}"
    assert [g.name for g in groups()] == ["Sales East"]


@pytest.mark.parametrize("name, message", [
    ("new HIRES", "already exists"),
    ("", "This field is required."),
])
def test_a_refused_rename_shows_the_error_in_the_form_and_keeps_the_name(admin_client, make_group,
                                                                         name, message):
    group = make_group("Sales North")
    make_group("New hires")

    response = admin_client.post(f"/admin/groups/{group.id}/name", data={"name": name},
                                 headers=htmx_headers("group-name"))

    html = text_of(response)
    assert response.status_code == 422
    assert "<html" not in html
    assert re.search(rf'<small id="name-error" class="field-error">[^<]*{message}', html)
    assert f'hx-post="/admin/groups/{group.id}/name"' in html  # still the form
    db.session.expire_all()
    assert db.session.get(Group, group.id).name == "Sales North"


# --- delete -------------------------------------------------------------------------------


def test_deleting_a_group_used_by_a_session_is_refused_with_the_reason(admin_client, make_group,
                                                                      make_session, now):
    group = make_group("Sales North")
    assign_to_session(group, make_session(), now)

    response = admin_client.post(f"/admin/groups/{group.id}/delete")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/groups/{group.id}"
    page = text_of(admin_client.get(f"/admin/groups/{group.id}"))
    assert "The group 'Sales North' is assigned to 1 session(s)" in page
    assert [g.name for g in groups()] == ["Sales North"]


def test_a_refused_delete_through_htmx_answers_409_with_the_reason(admin_client, make_group,
                                                                  make_session, now):
    group = make_group("Sales North")
    assign_to_session(group, make_session(), now)

    response = admin_client.post(f"/admin/groups/{group.id}/delete",
                                 headers=htmx_headers("group-danger"))

    html = text_of(response)
    assert response.status_code == 409
    assert "<html" not in html
    assert "The group 'Sales North' is assigned to 1 session(s)" in html
    assert f'hx-post="/admin/groups/{group.id}/delete"' in html
    assert [g.name for g in groups()] == ["Sales North"]


def test_a_refusal_shown_in_place_is_not_shown_again_on_the_next_page(admin_client, make_group,
                                                                     make_session, now):
    group = make_group("Sales North")
    assign_to_session(group, make_session(), now)
    admin_client.post(f"/admin/groups/{group.id}/delete", headers=htmx_headers("group-danger"))

    page = text_of(admin_client.get("/admin/groups"))

    assert "is assigned to 1 session(s)" not in page


def test_deleting_an_unused_group_through_htmx_redirects_to_the_list(admin_client, make_group,
                                                                    make_user):
    group = make_group("Sales North", members=[make_user()])
    keep = make_group("New hires")

    response = admin_client.post(f"/admin/groups/{group.id}/delete",
                                 headers=htmx_headers("group-danger"))

    assert 200 <= response.status_code < 300
    assert response.headers["HX-Redirect"] == "/admin/groups"
    assert [g.id for g in groups()] == [keep.id]
    page = text_of(admin_client.get("/admin/groups"))
    assert "Group 'Sales North' deleted." in page


def test_deleting_an_unused_group_without_htmx_redirects_to_the_list(admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.post(f"/admin/groups/{group.id}/delete")

    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/groups"
    assert groups() == []
    page = text_of(admin_client.get("/admin/groups"))
    assert "Group 'Sales North' deleted." in page
    assert "No groups yet." in page


def test_a_group_created_after_a_deletion_has_no_members(admin_client, make_group, make_user):
    member = make_user("left.behind@example.com")
    group = make_group("Old team", members=[member])
    admin_client.post(f"/admin/groups/{group.id}/delete")
    admin_client.post("/admin/groups", data={"name": "New team"})
    (new_group,) = groups()

    page = text_of(admin_client.get(f"/admin/groups/{new_group.id}"))

    assert "left.behind@example.com" not in page
    assert "0 members" in page


# --- members ------------------------------------------------------------------------------


@pytest.fixture
def people(make_user):
    return {
        "marie": make_user("marie.dubois@example.com", first_name="Marie", last_name="Dubois"),
        "mario": make_user("m.rossi@example.com", first_name="Mario", last_name="Rossi"),
        "james": make_user("james.smith@example.com", first_name="James", last_name="Smith"),
    }


def test_member_search_matches_names_and_emails_and_leaves_out_members(admin_client, make_group,
                                                                      people):
    group = make_group("Sales North", members=[people["james"]])

    def search(q):
        response = admin_client.get(f"/admin/groups/{group.id}/candidates", query_string={"q": q},
                                    headers=htmx_headers("member-candidates"))
        assert response.status_code == 200
        html = text_of(response)
        assert "<html" not in html
        return set(re.findall(r'name="user_id" value="(\d+)"', html)), html

    found, _ = search("mar")
    assert found == {str(people["marie"].id), str(people["mario"].id)}
    found, _ = search("rossi@")
    assert found == {str(people["mario"].id)}
    found, _ = search("MARIE dubois")
    assert found == {str(people["marie"].id)}
    found, html = search("james")
    assert found == set()
    assert "Nobody outside this group matches “james”." in html


def test_member_search_without_htmx_is_a_full_page(admin_client, make_group, people):
    group = make_group("Sales North")

    response = admin_client.get(f"/admin/groups/{group.id}/candidates?q=dubois")

    html = text_of(response)
    assert response.status_code == 200
    assert "<html" in html
    assert "marie.dubois@example.com" in html
    assert "james.smith@example.com" not in html


def test_adding_a_member_through_htmx_returns_the_member_list(admin_client, make_group, people):
    group = make_group("Sales North")
    marie = people["marie"]

    response = admin_client.post(f"/admin/groups/{group.id}/members", data={"user_id": marie.id},
                                 headers=htmx_headers("group-members"))

    html = text_of(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert "Marie Dubois" in html and "marie.dubois@example.com" in html
    assert "1 member<" in html
    assert member_ids(group.id) == {marie.id}


def test_adding_the_same_member_twice_does_not_duplicate_them(admin_client, make_group, people):
    group = make_group("Sales North")
    marie = people["marie"]
    url = f"/admin/groups/{group.id}/members"
    admin_client.post(url, data={"user_id": marie.id}, headers=htmx_headers("group-members"))

    response = admin_client.post(url, data={"user_id": marie.id},
                                 headers=htmx_headers("group-members"))

    html = text_of(response)
    assert response.status_code == 200
    assert html.count("marie.dubois@example.com") == 1
    assert "1 member<" in html
    assert "Marie Dubois was already in Sales North." in html
    memberships = select(func.count()).select_from(GroupMembership)
    assert db.session.scalar(memberships.where(GroupMembership.group_id == group.id)) == 1


def test_adding_a_member_without_htmx_redirects_to_the_group_page(admin_client, make_group,
                                                                  people):
    group = make_group("Sales North")

    response = admin_client.post(f"/admin/groups/{group.id}/members",
                                 data={"user_id": people["mario"].id})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/groups/{group.id}"
    assert member_ids(group.id) == {people["mario"].id}


def test_adding_an_unknown_user_is_not_found_and_adds_nobody(admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.post(f"/admin/groups/{group.id}/members", data={"user_id": 999_999},
                                 headers=htmx_headers("group-members"))

    assert response.status_code == 404
    assert member_ids(group.id) == set()


def test_removing_a_member_returns_the_list_without_them(admin_client, make_group, people):
    marie, james = people["marie"], people["james"]
    group = make_group("Sales North", members=[marie, james])

    response = admin_client.post(f"/admin/groups/{group.id}/members/{marie.id}/remove",
                                 headers=htmx_headers("group-members"))

    html = text_of(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert "marie.dubois@example.com" not in html
    assert "james.smith@example.com" in html
    assert "1 member<" in html
    assert member_ids(group.id) == {james.id}
    assert db.session.get(User, marie.id) is not None


def test_removing_a_member_without_htmx_redirects_to_the_group_page(admin_client, make_group,
                                                                   people):
    marie = people["marie"]
    group = make_group("Sales North", members=[marie])

    response = admin_client.post(f"/admin/groups/{group.id}/members/{marie.id}/remove")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/admin/groups/{group.id}"
    assert member_ids(group.id) == set()


def test_members_are_shown_fifty_per_page(admin_client, make_group, make_user):
    members = [make_user(f"member{n:02d}@example.com", first_name="Pat", last_name=f"Member{n:02d}")
               for n in range(1, 52)]
    group = make_group("Big team", members=members)

    first = text_of(admin_client.get(f"/admin/groups/{group.id}"))
    second = admin_client.get(f"/admin/groups/{group.id}?page=2",
                              headers=htmx_headers("group-members"))

    shown = re.findall(r"member(\d\d)@example.com", first)
    assert shown == [f"{n:02d}" for n in range(1, 51)]
    assert "51 members" in first
    assert "Page 1 of 2" in first
    assert f'href="/admin/groups/{group.id}?page=2"' in first
    html = text_of(second)
    assert second.status_code == 200
    assert "<html" not in html
    assert re.findall(r"member(\d\d)@example.com", html) == ["51"]
    assert "Page 2 of 2" in html
