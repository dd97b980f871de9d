"""`lms groups create` and `lms groups list`, and `lms links update` (DESIGN §5)."""
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from lms.clock import utcnow
from lms.enrollment.groups.models import Group
from lms.enrollment.links.models import InviteLink
from lms.enrollment.links.services import create_link, join_link, link_url
from lms.extensions import db
from lms.programs.models import SessionGroup

PUBLIC_ID = re.compile(r"G-[2-9A-HJKMNP-Z]{6}")


def stored_groups():
    db.session.expire_all()
    return db.session.scalars(select(Group).order_by(Group.id)).all()


def test_create_prints_one_json_object_with_the_new_group(runner):
    result = runner.invoke(args=["lms", "groups", "create", "Sales  North", "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # exactly one JSON value: anything else fails to parse
    assert set(data) >= {"id", "public_id", "name"}
    (group,) = stored_groups()
    assert data["id"] == group.id
    assert data["public_id"] == group.public_id
    assert PUBLIC_ID.fullmatch(data["public_id"])
    assert data["name"] == group.name == "Sales North"


def test_create_without_json_prints_the_public_id_for_people(runner):
    result = runner.invoke(args=["lms", "groups", "create", "Sales North"])

    assert result.exit_code == 0, result.output
    (group,) = stored_groups()
    assert group.public_id in result.stdout
    assert "Sales North" in result.stdout


@pytest.mark.parametrize("name", ["sales north", "Sales North"])
def test_create_with_a_taken_name_exits_1_with_a_json_error(runner, make_group, name):
    make_group("Sales North")

    result = runner.invoke(args=["lms", "groups", "create", name, "--json"])

    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) == {"error"}
    assert "already exists" in data["error"]
    assert "Traceback" not in result.output
    assert [group.name for group in stored_groups()] == ["Sales North"]


def test_create_with_a_blank_name_exits_1_with_a_message(runner):
    result = runner.invoke(args=["lms", "groups", "create", "   "])

    assert result.exit_code == 1
    assert "Enter a group name." in result.stderr
    assert "Traceback" not in result.output
    assert stored_groups() == []


def test_list_json_gives_every_group_with_its_member_and_session_counts(runner, make_group,
                                                                       make_user, make_session,
                                                                       now):
    north = make_group("Sales North", members=[make_user(), make_user()])
    hires = make_group("New hires")
    db.session.add(SessionGroup(session_id=make_session().id, group_id=north.id, created_at=now))
    db.session.commit()

    result = runner.invoke(args=["lms", "groups", "list", "--json"])

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [
        (row["id"], row["public_id"], row["name"], row["member_count"], row["session_count"])
        for row in rows
    ] == [
        (hires.id, hires.public_id, "New hires", 0, 0),
        (north.id, north.public_id, "Sales North", 2, 1),
    ]


def test_list_json_with_no_groups_is_an_empty_list(runner):
    result = runner.invoke(args=["lms", "groups", "list", "--json"])

    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_list_for_people_shows_public_ids_counts_and_names(runner, make_group, make_user):
    north = make_group("Sales North", members=[make_user(), make_user(), make_user()])
    hires = make_group("New hires")

    result = runner.invoke(args=["lms", "groups", "list"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(hires.public_id) and lines[0].endswith("New hires")
    assert lines[1].startswith(north.public_id) and lines[1].endswith("Sales North")
    assert re.search(r"\b3 members\b", lines[1])


@pytest.mark.parametrize("args", [
    ["lms", "groups", "create", "Sales North", "--colour", "red"],
    ["lms", "groups", "list", "--bogus"],
])
def test_an_unknown_option_exits_1_without_a_traceback(runner, args):
    result = runner.invoke(args=args)

    assert result.exit_code == 1
    assert "No such option" in result.stderr
    assert "Traceback" not in result.output
    assert stored_groups() == []


def test_an_unknown_option_with_json_prints_the_error_as_json(runner):
    result = runner.invoke(args=["lms", "groups", "create", "Sales North", "--colour", "red", "--json"])

    assert result.exit_code == 1
    assert "No such option '--colour'" in json.loads(result.stdout)["error"]
    assert stored_groups() == []


# --- `lms links update`: a link's terms, at the same address ------------------------------


def make_link(**fields):
    fields.setdefault("target", "group" if fields.get("group") else "platform")
    link = create_link(actor=None, now=utcnow(), **fields)
    db.session.commit()
    return link


def stored_link(link):
    db.session.expire_all()
    return db.session.get(InviteLink, link.id)


def fill(link, *users):
    for user in users:
        join_link(link, user, now=utcnow())
    db.session.commit()


def test_update_gives_a_full_link_more_room_and_prints_what_changed_as_json(app, runner, make_group, make_user):
    link = make_link(group=make_group("Sales North"), max_uses=1)
    fill(link, make_user())
    url = link_url(link)

    result = runner.invoke(args=["lms", "links", "update", str(link.id), "--max-uses", "5", "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["id"], data["url"], data["state"]) == (link.id, url, "live")
    assert (data["max_uses"], data["use_count"]) == (5, 1)
    assert data["changes"] == [{"field": "max_uses", "before": 1, "after": 5}]
    assert stored_link(link).max_uses == 5
    assert app.test_client().get(url.removeprefix(app.config["BASE_URL"])).status_code == 200


def test_update_changes_only_the_terms_it_is_given(runner, make_group):
    link = make_link(group=make_group(), max_uses=10, allowed_domain="acme.example")
    last_day = utcnow().date() + timedelta(days=14)

    result = runner.invoke(args=["lms", "links", "update", str(link.id), "--expires-on", last_day.isoformat(),
                                 "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["changes"] == [{"field": "expires_on", "before": None, "after": last_day.isoformat()}]
    assert (data["max_uses"], data["expires_on"], data["allowed_domain"]) == (10, last_day.isoformat(),
                                                                             "acme.example")


def test_update_removes_the_maximum_the_last_day_and_the_domain(runner, make_group):
    last_day = utcnow().date() + timedelta(days=3)
    link = make_link(group=make_group(), max_uses=10, expires_on=last_day, allowed_domain="acme.example")

    result = runner.invoke(args=["lms", "links", "update", str(link.id), "--no-max-uses", "--no-expiry",
                                 "--any-domain"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (f"Changed: maximum uses 10 → no limit; works until {last_day} → "
                                              "no expiry; email addresses only @acme.example → any")
    stored = stored_link(link)
    assert (stored.max_uses, stored.expires_at, stored.allowed_domain) == (None, None, None)


def test_update_for_people_prints_the_link_and_its_changes(runner, make_group):
    link = make_link(group=make_group("Sales North"))

    result = runner.invoke(args=["lms", "links", "update", str(link.id), "--domain", "@Acme.example"])

    assert result.exit_code == 0, result.output
    first, last = result.stdout.splitlines()
    assert first.startswith(f"{link.id}\tlive\t0/-\tgroup: Sales North\t")
    assert last == "Changed: email addresses any → only @acme.example"
    assert stored_link(link).allowed_domain == "acme.example"


def test_update_with_the_terms_as_they_are_says_nothing_changed(runner, make_group):
    link = make_link(group=make_group(), max_uses=10)

    result = runner.invoke(args=["lms", "links", "update", str(link.id), "--max-uses", "10", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["changes"] == []


def test_update_below_the_uses_made_exits_1_naming_the_numbers(runner, make_group, make_user):
    link = make_link(group=make_group(), max_uses=10)
    fill(link, make_user(), make_user(), make_user())

    result = runner.invoke(args=["lms", "links", "update", str(link.id), "--max-uses", "2", "--json"])

    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": "3 people have joined through this link already: the maximum "
                                                  "uses cannot be 2, only 3 or more (or no limit)."}
    assert "Traceback" not in result.output
    assert stored_link(link).max_uses == 10


@pytest.mark.parametrize("args, message", [
    (["--expires-on", "2020-01-01"], "Choose an expiry date from today on."),
    (["--domain", "not a domain"], "“not a domain” is not an email domain such as @acme.example."),
    (["--max-uses", "5", "--no-max-uses"], "Give --max-uses or --no-max-uses, not both."),
    (["--domain", "acme.example", "--any-domain"], "Give --domain or --any-domain, not both."),
    ([], "Nothing to change: give --max-uses, --expires-on or --domain (or --no-max-uses, --no-expiry, "
         "--any-domain)."),
], ids=["past day", "junk domain", "max and no max", "domain and any", "nothing"])
def test_update_with_a_bad_request_exits_1_with_the_reason(runner, make_group, args, message):
    link = make_link(group=make_group(), max_uses=10)

    result = runner.invoke(args=["lms", "links", "update", str(link.id), *args])

    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {message}"
    assert "Traceback" not in result.output
    stored = stored_link(link)
    assert (stored.max_uses, stored.expires_at, stored.allowed_domain) == (10, None, None)


@pytest.mark.parametrize("args", [["999", "--max-uses", "5"], ["abc", "--max-uses", "5"],
                                  ["1", "--max-uses", "0"], ["1", "--expires-on", "31/12/2030"]])
def test_update_of_an_unknown_link_or_with_an_odd_value_exits_1(runner, args):
    result = runner.invoke(args=["lms", "links", "update", *args, "--json"])

    assert result.exit_code == 1
    assert set(json.loads(result.stdout)) == {"error"}
    assert "Traceback" not in result.output
