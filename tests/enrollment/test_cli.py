"""`lms groups create` and `lms groups list` (DESIGN §5)."""
import json
import re

import pytest
from sqlalchemy import select

from lms.enrollment.groups.models import Group
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
