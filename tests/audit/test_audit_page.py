"""The audit log (/admin/audit): who did what to whom and when, newest first, 50 a page; its
filters (person, actor, action, dates), its CSV export, who may open it, and each person's
history on their user page.

Events are recorded by the services (at the `now` they are given) or, for the page's own
rules, by record_event directly; the views use the real clock.
"""
import csv
import io
import re
from datetime import datetime, timedelta, timezone
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy import event as sa_event

from lms.accounts.deactivation import deactivate_user, reactivate_user
from lms.accounts.models import Role, User
from lms.audit import log as audit_log
from lms.audit.services import record_event, record_events
from lms.enrollment.groups.services import add_group_members, create_group, rename_group
from lms.enrollment.invitations.models import Invitation
from lms.enrollment.invitations.services import cancel_invitations, invite_people
from lms.enrollment.links.services import create_link, revoke_link
from lms.enrollment.rosters.jobs import run_import_job
from lms.enrollment.rosters.models import ImportJob, ImportJobRow, ImportJobStatus, ImportRowOutcome
from lms.extensions import db
from lms.programs.cascade import add_learner, assign_group
from lms.programs.services import create_program, create_session
from tests.conftest import NOW, htmx_headers, login
from tests.pages import field_error, flashes, text, utcnow, visible

COLUMNS = ["When", "Who", "What", "Person", "Target"]


# --- reading the page ---------------------------------------------------------------------


def rows(response):
    """The log's rows as a person reads them: [{"When": ..., "Who": ..., ...}], top first."""
    body = re.search(r'<table class="stack audit-log">.*?<tbody>(.*?)</tbody>', text(response), re.S)
    if body is None:
        return []
    return [{label: visible(cell) for label, cell in re.findall(r'<td data-label="([^"]+)">(.*?)</td>', row, re.S)}
            for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


def what(response):
    return [row["What"] for row in rows(response)]


def links_in(html):
    """{link text: href} of the links in a piece of HTML."""
    return {visible(label): unescape(href) for href, label in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', html, re.S)}


def cells(response, label):
    """The raw HTML of one column's cells, top first."""
    body = re.search(r"<tbody>(.*?)</tbody>", text(response), re.S).group(1)
    return re.findall(rf'<td data-label="{label}">(.*?)</td>', body, re.S)


def history(response):
    section = re.search(r'<section id="user-history".*?</section>', text(response), re.S)
    assert section is not None, "the user page has no History section"
    body = re.search(r"<tbody>(.*?)</tbody>", section.group(0), re.S)
    return section.group(0), [
        {label: visible(cell) for label, cell in re.findall(r'<td data-label="([^"]+)">(.*?)</td>', row, re.S)}
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1) if body else "", re.S)]


def exported(response):
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(text(response))))


def invitation_of(email):
    db.session.expire_all()
    return db.session.scalar(sa.select(Invitation).join(User, User.id == Invitation.user_id).where(User.email == email))


@pytest.fixture
def boss(make_user):
    """A second admin."""
    return make_user("boss@example.com", role=Role.admin, first_name="Bea", last_name="Boss")


# --- the acceptance check -----------------------------------------------------------------


def test_an_import_an_invitation_and_its_cancellation_are_listed_with_their_actors_newest_first(
        app, admin_client, admin, boss):
    """Ada imports a roster (the page, then the job as the background thread runs it) and
    invites someone; Bea cancels that invitation. The log says so, each with its actor."""
    boss_client = login(app.test_client(), boss)
    draft = admin_client.post("/admin/imports/new", data={
        "roster": "Rosterson, Rita, rita@example.com", "mode": "create", "language": "en", "role": "learner",
        "send_email": "y"})
    job_id = int(re.fullmatch(r"/admin/imports/(\d+)", draft.headers["Location"]).group(1))
    assert admin_client.post(f"/admin/imports/{job_id}/start").status_code == 303
    assert run_import_job(job_id, now=utcnow()) is not None
    assert admin_client.post("/admin/invite", data={
        "emails": "newcomer@example.com", "role": "learner", "language": "en", "message": "",
        "send_email": "y"}).status_code in (200, 303)
    invitation = invitation_of("newcomer@example.com")
    assert boss_client.post(f"/admin/invitations/{invitation.id}/cancel").status_code == 303

    response = admin_client.get("/admin/audit")

    assert response.status_code == 200
    assert [{column: row[column] for column in COLUMNS[1:]} for row in rows(response)] == [
        {"Who": "Bea Boss boss@example.com", "What": "cancelled the invitation", "Person": "newcomer@example.com",
         "Target": ""},
        {"Who": "Ada Admin admin@example.com", "What": "invited as a learner", "Person": "newcomer@example.com",
         "Target": ""},
        {"Who": "Ada Admin admin@example.com", "What": "imported a roster (1 created, 0 updated, 0 rejected)",
         "Person": "", "Target": f"Roster import #{job_id}"},
        # The import invited Rita (no password in the roster): an event of its own, before the import's.
        {"Who": "Ada Admin admin@example.com", "What": "invited as a learner",
         "Person": "Rita Rosterson rita@example.com", "Target": ""},
    ]
    whens = [datetime.strptime(row["When"], "%Y-%m-%d %H:%M") for row in rows(response)]
    assert whens == sorted(whens, reverse=True)
    assert links_in(cells(response, "What")[2]) == {"a roster": f"/admin/imports/{job_id}"}
    assert links_in(cells(response, "Who")[0]) == {"Bea Boss": f"/admin/users/{boss.id}"}
    assert links_in(cells(response, "Who")[1]) == {"Ada Admin": f"/admin/users/{admin.id}"}
    assert links_in(cells(response, "Person")[0]) == {"newcomer@example.com": f"/admin/users/{invitation.user_id}"}
    assert "4 events" in visible(text(response))


def test_the_admin_menu_links_the_audit_log(admin_client):
    home = admin_client.get("/")

    assert links_in(text(home))["Audit log"] == "/admin/audit"
    page = text(admin_client.get("/admin/audit"))
    assert re.search(r'<a href="/admin/audit" aria-current="page">Audit log</a>', page)


# --- sentences, names and targets ---------------------------------------------------------


def test_each_kind_of_event_reads_as_a_sentence_naming_what_it_touched(admin_client, admin, make_user):
    ann = make_user("ann@example.com", first_name="Ann", last_name="Archer")
    group = create_group("Sales North", actor=admin, now=NOW)
    add_group_members(group, [ann.id], actor=admin, now=NOW + timedelta(minutes=1), send_email=False)
    rename_group(group, "Sales South", actor=admin, now=NOW + timedelta(minutes=2))
    program = create_program("Workplace Safety", owner=admin, now=NOW + timedelta(minutes=3))
    session = create_session(program, name="Spring run", starts_at=NOW + timedelta(days=30),
                             actor=admin, now=NOW + timedelta(minutes=4))
    assign_group(session, group, actor=admin, now=NOW + timedelta(minutes=5))
    link = create_link(actor=admin, now=NOW + timedelta(minutes=6), target="group", group=group, max_uses=10)
    revoke_link(link, actor=admin, now=NOW + timedelta(minutes=7))
    deactivate_user(ann, actor=None, now=NOW + timedelta(minutes=8))
    db.session.get(User, ann.id).deactivate_on = None
    record_event(None, "user.deactivated", "user", ann.id, now=NOW + timedelta(minutes=9), reason="deactivate_on")
    record_event(admin, "user.updated", "user", ann.id, now=NOW + timedelta(minutes=10),
                 fields=["role", "first_name"], role={"from": "learner", "to": "manager"})
    record_event(admin, "user.updated", "user", ann.id, now=NOW + timedelta(minutes=11),
                 fields=["first_name", "labels"])  # as recorded before the role's values were kept
    record_event(None, "scim.user_provisioned", "user", ann.id, now=NOW + timedelta(minutes=12),
                 external_id="E-42", source="okta")
    db.session.commit()

    response = admin_client.get("/admin/audit")

    assert [(row["Who"], row["What"], row["Person"], row["Target"]) for row in rows(response)] == [
        ("System", 'scim.user_provisioned (external_id: "E-42", source: "okta")', "Ann Archer ann@example.com", ""),
        ("Ada Admin admin@example.com", "changed the first name and labels", "Ann Archer ann@example.com", ""),
        ("Ada Admin admin@example.com", "changed the role from learner to manager, and the first name",
         "Ann Archer ann@example.com", ""),
        ("Scheduler", "deactivated the account (its deactivation date had come)", "Ann Archer ann@example.com", ""),
        ("System", "deactivated the account", "Ann Archer ann@example.com", ""),
        ("Ada Admin admin@example.com", "switched the invite link off", "", "Invite link to Sales South"),
        ("Ada Admin admin@example.com", "created the invite link (for learners, up to 10 uses)", "",
         "Invite link to Sales South"),
        ("Ada Admin admin@example.com", "added the group Sales South to the session (1 invited)", "",
         "Workplace Safety – Spring run"),
        ("Ada Admin admin@example.com", "created the session in the program Workplace Safety", "",
         "Workplace Safety – Spring run"),
        ("Ada Admin admin@example.com", "created the program", "", "Workplace Safety"),
        ("Ada Admin admin@example.com", "renamed the group from “Sales North” to “Sales South”", "", "Sales South"),
        ("Ada Admin admin@example.com", "added 1 member to the group", "", "Sales South"),
        ("Ada Admin admin@example.com", "created the group", "", "Sales South"),
    ]
    targets = cells(response, "Target")
    assert links_in(targets[5]) == {"Invite link to Sales South": f"/admin/links/{link.id}"}
    assert links_in(targets[7]) == {"Workplace Safety – Spring run": f"/sessions/{session.id}"}
    assert links_in(targets[9]) == {"Workplace Safety": f"/programs/{program.id}"}
    assert links_in(targets[12]) == {"Sales South": f"/admin/groups/{group.id}"}
    assert links_in(cells(response, "What")[7])["Sales South"] == f"/admin/groups/{group.id}"


def test_what_no_longer_exists_is_named_without_a_link(admin_client, admin):
    from lms.enrollment.groups.services import delete_group

    group = create_group("Old Cohort", actor=admin, now=NOW)
    delete_group(group, actor=admin, now=NOW + timedelta(minutes=1))
    db.session.commit()

    response = admin_client.get("/admin/audit")

    assert [(row["What"], row["Target"]) for row in rows(response)] == [
        ("deleted the group “Old Cohort”", "“Old Cohort” (deleted)"),
        ("created the group", "“Old Cohort” (deleted)"),
    ]
    assert links_in(cells(response, "Target")[0]) == {}


def test_a_page_of_events_names_everything_in_a_few_queries_whatever_its_length(admin_client, admin, make_user):
    def page_queries():
        statements = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        sa_event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert admin_client.get("/admin/audit").status_code == 200
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    def add_events(number, start):
        for index in range(start, start + number):
            person = make_user(f"person{index}@example.com")
            group = create_group(f"Group {index}", actor=person, now=NOW)
            program = create_program(f"Program {index}", owner=person, now=NOW)
            session = create_session(program, name=f"Run {index}", starts_at=NOW + timedelta(days=9),
                                     actor=person, now=NOW)
            assign_group(session, group, actor=person, now=NOW)
            add_learner(session, person, actor=admin, now=NOW)
        db.session.commit()

    add_events(2, 0)
    few = page_queries()
    add_events(12, 2)  # 12 more people, groups, programs and sessions: 70 events, a full page
    many = page_queries()

    assert many == few


# --- filters ------------------------------------------------------------------------------


@pytest.fixture
def story(admin, boss, make_user):
    """Three days of events. Day 1: Ada creates a group, adds Ann and Ben. Day 2: Bea invites
    Carl, Ada deactivates Ann. Day 3: Bea reactivates Ann, Ada changes Ben's role."""
    ann = make_user("ann@example.com", first_name="Ann", last_name="Archer")
    ben = make_user("ben@example.com", first_name="Ben", last_name="Baker")
    day1, day2, day3 = NOW - timedelta(days=2), NOW - timedelta(days=1), NOW
    group = create_group("Cohort", actor=admin, now=day1)
    add_group_members(group, [ann.id, ben.id], actor=admin, now=day1 + timedelta(minutes=1), send_email=False)
    invite_people(["carl@example.com"], actor=boss, now=day2, send_email=False)
    deactivate_user(ann, actor=admin, now=day2 + timedelta(minutes=1))
    reactivate_user(ann, actor=boss, now=day3)
    record_event(admin, "user.updated", "user", ben.id, now=day3 + timedelta(minutes=1), fields=["role"],
                 role={"from": "learner", "to": "manager"})
    db.session.commit()
    return {"ann": ann, "ben": ben, "group": group}


ALL = ["changed the role from learner to manager", "reactivated the account", "deactivated the account",
       "invited as a learner", "added 2 members to the group", "created the group"]


@pytest.mark.parametrize("args, expected", [
    ({}, ALL),
    ({"user": "ann@example.com"}, ["reactivated the account", "deactivated the account"]),
    ({"user": "Ann"}, ["reactivated the account", "deactivated the account"]),
    ({"user": "ann archer"}, ["reactivated the account", "deactivated the account"]),
    ({"user": "ARCH"}, ["reactivated the account", "deactivated the account"]),
    ({"user": "b"}, ["changed the role from learner to manager"]),  # Ben Baker; not Bea, who is no event's person
    ({"user": "carl@"}, ["invited as a learner"]),
    ({"actor": "Bea"}, ["reactivated the account", "invited as a learner"]),
    ({"actor": "boss@example.com"}, ["reactivated the account", "invited as a learner"]),
    ({"actor": "ada admin", "user": "ann"}, ["deactivated the account"]),
    ({"action": "user.*"}, ALL[:3]),
    ({"action": "group.*"}, ALL[4:]),
    ({"action": "invitation.*"}, ["invited as a learner"]),
    ({"action": "user.deactivated"}, ["deactivated the account"]),
    ({"action": "roster.*"}, []),
    ({"date_from": "2026-03-01", "date_to": "2026-03-01"}, ["deactivated the account", "invited as a learner"]),
    ({"date_from": "2026-03-01"}, ALL[:4]),
    ({"date_to": "2026-03-01"}, ALL[2:]),
    ({"date_from": "2026-03-02", "actor": "bea"}, ["reactivated the account"]),
])
def test_filters(admin_client, story, args, expected):
    response = admin_client.get("/admin/audit", query_string=args)

    assert response.status_code == 200
    assert what(response) == expected
    if not expected:
        assert "No event matches these filters." in visible(text(response))


def test_the_person_and_actor_filters_take_an_account_id(admin_client, story, admin, boss):
    ann = story["ann"]

    about_ann = admin_client.get(f"/admin/audit?user={ann.id}")
    by_bea = admin_client.get(f"/admin/audit?actor={boss.id}")
    by_ada_about_ann = admin_client.get(f"/admin/audit?actor={admin.id}&user={ann.id}")

    assert what(about_ann) == ["reactivated the account", "deactivated the account"]
    assert "2 events about Ann Archer" in visible(text(about_ann))
    assert what(by_bea) == ["reactivated the account", "invited as a learner"]
    assert what(by_ada_about_ann) == ["deactivated the account"]


def test_the_dates_are_the_platform_s(app, admin_client, admin, monkeypatch):
    """In Auckland (UTC+13 in March), 2 March begins at 11:00 UTC on 1 March."""
    monkeypatch.setitem(app.config, "LMS_TIMEZONE", "Pacific/Auckland")
    for moment, name in [("2026-03-01T10:59", "Before"), ("2026-03-01T11:00", "First"),
                         ("2026-03-02T10:59", "Last"), ("2026-03-02T11:00", "After")]:
        create_group(name, actor=admin, now=datetime.fromisoformat(moment).replace(tzinfo=timezone.utc))
    db.session.commit()

    response = admin_client.get("/admin/audit?date_from=2026-03-02&date_to=2026-03-02")

    assert [row["Target"] for row in rows(response)] == ["Last", "First"]
    assert [row["When"] for row in rows(response)] == ["2026-03-02 23:59", "2026-03-02 00:00"]


def test_the_filter_form_keeps_what_was_asked(admin_client, story):
    html = text(admin_client.get("/admin/audit?user=ann&actor=bea&action=user.*&date_from=2026-03-01"))

    assert re.search(r'<input[^>]*name="user"[^>]*value="ann"', html)
    assert re.search(r'<input[^>]*name="actor"[^>]*value="bea"', html)
    assert re.search(r'<option selected value="user.\*">|<option value="user.\*" selected>', html)
    assert re.search(r'<input[^>]*name="date_from"[^>]*type="date"[^>]*value="2026-03-01"', html)
    assert '<optgroup label="Invitations">' in html


def test_events_are_shown_fifty_a_page_and_the_pages_keep_the_filters(admin_client, admin):
    for number in range(55):
        record_event(admin, "group.deleted", "group", 1000 + number, now=NOW + timedelta(seconds=number),
                     name=f"G{number}")
    record_event(admin, "program.created", "program", 1, now=NOW + timedelta(days=1))  # filtered out
    db.session.commit()

    first = admin_client.get("/admin/audit?action=group.*")
    next_link = unescape(re.search(r'<a href="([^"]+)"[^>]*>\s*Next', text(first)).group(1))
    second = admin_client.get(next_link, headers=htmx_headers("audit-table"))

    assert len(rows(first)) == 50
    assert "55 events" in visible(text(first)) and "Page 1 of 2" in visible(text(first))
    assert parse_qs(urlsplit(next_link).query) == {"page": ["2"], "action": ["group.*"]}
    assert len(rows(second)) == 5
    assert "Page 2 of 2" in visible(text(second))
    assert "<html" not in text(second)
    assert [row["What"] for row in rows(first) + rows(second)] == [
        f"deleted the group “G{number}”" for number in reversed(range(55))]


def test_events_of_one_instant_come_latest_recorded_first(admin_client, admin):
    group_a = create_group("Alpha", actor=admin, now=NOW)
    group_b = create_group("Bravo", actor=admin, now=NOW)
    db.session.commit()

    assert [row["Target"] for row in rows(admin_client.get("/admin/audit"))] == ["Bravo", "Alpha"]
    assert group_a.id < group_b.id


# --- htmx ---------------------------------------------------------------------------------


def test_htmx_gets_only_the_table_and_a_plain_request_the_page(admin_client, story):
    page = admin_client.get("/admin/audit?action=user.*")
    fragment = admin_client.get("/admin/audit?action=user.*", headers=htmx_headers("audit-table"))

    assert "<html" in text(page) and 'id="audit-filters"' in text(page) and 'id="audit-table"' in text(page)
    assert "<html" not in text(fragment) and 'id="audit-filters"' not in text(fragment)
    assert "<table" in text(fragment)
    assert what(fragment) == what(page) == ALL[:3]


@pytest.mark.parametrize("headers", [
    {"HX-Request": "true", "HX-Boosted": "true", "HX-Current-URL": "http://localhost/"},
    {"HX-Request": "true", "HX-Boosted": "true", "HX-Target": "main"},
], ids=["no target", "another target"])
def test_boosted_navigation_gets_the_full_page(admin_client, story, headers):
    response = admin_client.get("/admin/audit", headers=headers)

    assert "<html" in text(response) and 'id="audit-filters"' in text(response)


def test_the_filter_form_and_pager_swap_the_table(admin_client):
    html = text(admin_client.get("/admin/audit"))

    form = re.search(r'<form id="audit-filters"[^>]*>', html).group(0)
    assert 'method="get"' in form and 'action="/admin/audit"' in form  # works without JavaScript
    assert 'hx-get="/admin/audit"' in form and 'hx-target="#audit-table"' in form and 'hx-push-url="true"' in form


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("query, field, message, expected", [
    ("page=abc", None, None, ALL),
    ("page=99999999999999999999", None, None, ALL),
    ("date_from=notadate", "date_from", "Enter the date as YYYY-MM-DD, for example 2026-03-02.", ALL),
    ("date_to=2026-02-30", "date_to", "Enter the date as YYYY-MM-DD, for example 2026-03-02.", ALL),
    ("date_from=9999-12-31", "date_from", "Choose a date between 2000-01-01 and 2099-12-31.", ALL),
    ("date_from=0001-01-01", "date_from", "Choose a date between 2000-01-01 and 2099-12-31.", ALL),
    ("date_from=2026-03-02&date_to=2026-03-01", "date_to", "This date is before the From date.",
     ALL[:2]),  # the From date still applies
    ("action=%3Cscript%3Ealert(1)%3C/script%3E", "action", "Choose an action from the list.", ALL),
    ("action=user.*&date_from=nope", "date_from", "Enter the date as YYYY-MM-DD, for example 2026-03-02.", ALL[:3]),
    ("user=abc", None, None, []),
    ("user=%00ann", None, None, ["reactivated the account", "deactivated the account"]),
    ("user=999999", None, None, []),
    ("actor=" + "x" * 400, "actor", "Field cannot be longer than 320 characters.", ALL),
])
def test_odd_filters_get_a_clear_answer_never_an_error(admin_client, story, query, field, message, expected):
    response = admin_client.get(f"/admin/audit?{query}")
    fragment = admin_client.get(f"/admin/audit?{query}", headers=htmx_headers("audit-table"))

    assert response.status_code == 200 and fragment.status_code == 200
    assert what(response) == what(fragment) == expected
    assert "<script>alert" not in text(response) + text(fragment)
    if field is not None:
        assert field_error(text(response), field) == message
        assert message in visible(text(fragment))  # the form is not in the fragment: the table says it
    if query.startswith("user=") and not expected:
        assert any("no account has the id, or an email or a name starting with" in note for note in flashes(text(response)))
    assert admin_client.get(f"/admin/audit/export.csv?{query}").status_code == 200


# --- CSV export ---------------------------------------------------------------------------


def test_the_export_has_every_filtered_event(admin_client, story, admin):
    ben = story["ben"]

    response = admin_client.get("/admin/audit/export.csv?action=user.*")

    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="audit-log.csv"' in response.headers["Content-Disposition"]
    lines = exported(response)
    assert list(lines[0]) == ["time_utc", "actor_email", "action", "person_email", "target_type", "target_id",
                              "details", "sentence"]
    assert [line["action"] for line in lines] == ["user.updated", "user.reactivated", "user.deactivated"]
    assert lines[0] == {
        "time_utc": "2026-03-02T10:01:00+00:00", "actor_email": "admin@example.com", "action": "user.updated",
        "person_email": "ben@example.com", "target_type": "user", "target_id": str(ben.id),
        "details": '{"fields": ["role"], "role": {"from": "learner", "to": "manager"}}',
        "sentence": "Ada Admin changed the role from learner to manager (Ben Baker)"}
    assert lines[1]["actor_email"] == "boss@example.com"


def test_the_export_of_everything_is_written_a_batch_at_a_time(admin_client, admin, monkeypatch):
    monkeypatch.setattr(audit_log, "EXPORT_BATCH", 2)
    record_events(admin, "group.created", "group", [1, 2, 3], now=NOW, details={})  # one instant
    record_events(admin, "group.created", "group", [4, 5], now=NOW - timedelta(hours=1), details={})
    db.session.commit()

    lines = exported(admin_client.get("/admin/audit/export.csv"))

    assert [line["target_id"] for line in lines] == ["3", "2", "1", "5", "4"]


def test_the_export_neutralises_what_a_spreadsheet_would_run(admin_client, make_user):
    plotter = make_user("plotter@example.com", role=Role.admin, first_name='=HYPERLINK("http://x")', last_name="")
    for email in ("=cmd@example.com", "+1@example.com", "-2@example.com", "@sum@example.com"):
        person = make_user(email, first_name="", last_name="")
        record_event(plotter, "user.reactivated", "user", person.id, now=NOW)
    record_event(plotter, "group.deleted", "group", 7, now=NOW, name="=1+1")
    db.session.commit()

    lines = exported(admin_client.get("/admin/audit/export.csv"))

    assert sorted(line["person_email"] for line in lines[1:]) == [
        "'+1@example.com", "'-2@example.com", "'=cmd@example.com", "'@sum@example.com"]
    assert sorted(line["sentence"] for line in lines[1:]) == [
        f"'=HYPERLINK(\"http://x\") reactivated the account ({email})"
        for email in ("+1@example.com", "-2@example.com", "=cmd@example.com", "@sum@example.com")]
    assert lines[0]["sentence"] == "'=HYPERLINK(\"http://x\") deleted the group “=1+1”"
    assert lines[0]["details"] == '{"name": "=1+1"}'  # starts with {: nothing to neutralise
    page = admin_client.get("/admin/audit")
    assert rows(page)[0]["Who"] == '=HYPERLINK("http://x") plotter@example.com'  # the page shows it as it is


def test_the_page_links_the_export_of_its_filters(admin_client, story):
    html = text(admin_client.get("/admin/audit?action=user.*&date_from=2026-03-01&page=1"))

    href = links_in(html)["Export these events as CSV"]
    assert urlsplit(href).path == "/admin/audit/export.csv"
    assert parse_qs(urlsplit(href).query) == {"action": ["user.*"], "date_from": ["2026-03-01"]}


# --- who may open it ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/audit", "/admin/audit?user=1", "/admin/audit/export.csv"])
@pytest.mark.parametrize("role", ["learner", "manager"])
def test_learners_and_managers_are_refused(request, story, path, role):
    response = request.getfixturevalue(f"{role}_client").get(path)

    assert response.status_code == 403
    assert "Your account does not have access to this page." in text(response)
    assert "ann@example.com" not in text(response)


@pytest.mark.parametrize("path", ["/admin/audit", "/admin/audit/export.csv"])
def test_anonymous_visitors_are_sent_to_sign_in(client, story, path):
    response = client.get(path)

    assert response.status_code == 302
    assert urlsplit(response.location).path == "/login"
    assert parse_qs(urlsplit(response.location).query)["next"] == [path]


def test_the_menu_has_no_audit_log_for_managers(manager_client):
    assert "Audit log" not in links_in(text(manager_client.get("/")))


# --- a person's history on their page -----------------------------------------------------


def test_the_user_page_shows_the_person_s_own_history(admin_client, admin, boss, make_user):
    invite_people(["dana@example.com", "eve@example.com"], actor=admin, now=NOW - timedelta(hours=2),
                  send_email=False)
    cancel_invitations([invitation_of("dana@example.com")], actor=boss, now=NOW - timedelta(hours=1))
    cancel_invitations([invitation_of("eve@example.com")], actor=admin, now=NOW - timedelta(minutes=30))
    other = make_user("other@example.com")
    deactivate_user(other, actor=admin, now=NOW)
    db.session.commit()
    dana = invitation_of("dana@example.com").user

    response = admin_client.get(f"/admin/users/{dana.id}")

    section, entries = history(response)
    assert [(entry["Who"], entry["What"]) for entry in entries] == [
        ("Bea Boss boss@example.com", "cancelled the invitation"),
        ("Ada Admin admin@example.com", "invited as a learner"),
    ]
    assert entries[0]["When"] == "2026-03-02 09:00"
    assert "eve@example.com" not in section and "other@example.com" not in section
    assert links_in(section)["Full history"] == f"/admin/audit?user={dana.id}"
    full = admin_client.get(links_in(section)["Full history"])
    assert what(full) == ["cancelled the invitation", "invited as a learner"]
    assert "2 events about dana@example.com" in visible(text(full))


def test_the_history_shows_the_roster_imports_that_created_or_updated_the_account(admin_client, admin, make_user):
    ann = make_user("ann@example.com", first_name="Ann", last_name="Archer")
    jobs = []
    for hours, outcome in ((3, ImportRowOutcome.created), (2, ImportRowOutcome.updated),
                           (1, ImportRowOutcome.unchanged)):
        job = ImportJob(created_by_id=admin.id, source="paste", status=ImportJobStatus.finished,
                        created_at=NOW - timedelta(hours=hours), finished_at=NOW - timedelta(hours=hours))
        db.session.add(job)
        db.session.flush()
        db.session.add(ImportJobRow(job_id=job.id, line=2, outcome=outcome, user_id=ann.id, email=ann.email))
        jobs.append(job.id)
    deactivate_user(ann, actor=admin, now=NOW - timedelta(minutes=150))
    db.session.commit()

    section, entries = history(admin_client.get(f"/admin/users/{ann.id}"))

    assert [(entry["Who"], entry["What"]) for entry in entries] == [
        ("Ada Admin admin@example.com", f"updated by roster import #{jobs[1]}"),
        ("Ada Admin admin@example.com", "deactivated the account"),
        ("Ada Admin admin@example.com", f"created by roster import #{jobs[0]}"),
    ]
    assert links_in(section)[f"roster import #{jobs[0]}"] == f"/admin/imports/{jobs[0]}"


def test_the_history_lists_the_latest_twenty(admin_client, admin, make_user):
    ann = make_user("ann@example.com")
    for minute in range(25):
        record_event(admin, "user.updated", "user", ann.id, now=NOW + timedelta(minutes=minute),
                     fields=["labels"])
    db.session.commit()

    _, entries = history(admin_client.get(f"/admin/users/{ann.id}"))

    assert len(entries) == 20
    assert entries[0]["When"] == "2026-03-02 10:24" and entries[-1]["When"] == "2026-03-02 10:05"


def test_a_person_with_no_history_is_told_so(admin_client, make_user):
    ann = make_user("ann@example.com", first_name="Ann", last_name="Archer")

    section, entries = history(admin_client.get(f"/admin/users/{ann.id}"))

    assert entries == []
    assert "Nothing has been recorded about Ann Archer yet." in visible(section)
