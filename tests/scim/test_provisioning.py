"""SCIM provisioning as an identity provider drives it: people created are invited, groups
cascade to sessions (R2-R5), `active: false` deactivates at once (R6), DELETE keeps the account."""
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from lms.accounts.models import User, UserStatus
from lms.audit.log import describe
from lms.audit.models import AuditEvent
from lms.enrollment.groups.models import Group, GroupMembership
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.notifications.render import render_email
from lms.programs.cascade import assign_group
from lms.programs.models import Enrollment, EnrollmentStatus
from tests.conftest import count, signs_in, user_of
from tests.scim.conftest import GROUP_SCHEMA, USER_SCHEMA


def _future_session(make_session, group_id):
    """A session starting in ten days (the SCIM door runs on the real clock) with the group."""
    now = datetime.now(timezone.utc)
    session = make_session(starts_at=now + timedelta(days=10), name="Onboarding")
    assign_group(session, db.session.get(Group, group_id), actor=None, now=now)
    db.session.commit()
    return session


def _people(prefix, number):
    """`number` active accounts written at once; their ids in order."""
    from lms.db_utils import insert_rows

    now = datetime.now(timezone.utc)
    insert_rows(User, [{"email": f"{prefix}{index:05}@example.com", "first_name": "", "last_name": "",
                        "additional_info": "", "status": UserStatus.active, "created_at": now, "updated_at": now}
                       for index in range(number)])
    db.session.commit()
    return db.session.scalars(sa.select(User.id).where(User.email.startswith(prefix)).order_by(User.id)).all()


@contextmanager
def statements_run():
    """The SQL statements the app runs inside the block."""
    statements = []

    def record(connection, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def _enrollment(session_id, email):
    db.session.expire_all()
    return db.session.scalar(sa.select(Enrollment).join(User).where(Enrollment.session_id == session_id,
                                                                   User.email == email))


def test_a_user_created_over_scim_is_invited_and_their_invitation_email_queued(app, scim):
    created = scim.create_user("Ada.Lovelace@Example.com", externalId="00u1ab")

    user = user_of("ada.lovelace@example.com")
    assert (user.status, user.first_name, user.last_name, user.external_id) == (
        UserStatus.invited, "Ada", "Lovelace", "00u1ab")
    assert created["id"] == str(user.id) and created["userName"] == "ada.lovelace@example.com"
    assert created["active"] is True and created["meta"]["location"].endswith(f"/scim/v2/Users/{user.id}")
    invitation = db.session.scalar(sa.select(Invitation).where(Invitation.user_id == user.id))
    assert invitation.status == InvitationStatus.pending
    email = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.user_id == user.id))
    assert (email.kind, email.recipient, email.status) == ("invitation", "ada.lovelace@example.com", OutboxStatus.queued)
    rendered = render_email(email)
    assert f"Accept the invitation: {app.config['BASE_URL']}/invitation/" in rendered.text


def test_with_scim_invitations_off_people_are_invited_without_an_email(app, scim, monkeypatch, make_session):
    monkeypatch.setitem(app.config, "LMS_SCIM_SEND_INVITATIONS", False)
    group = scim.create_group("Quiet ones")
    session = _future_session(make_session, int(group["id"]))

    created = scim.create_user("quiet@example.com")
    scim.patch(f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": created["id"]}]})

    user = user_of("quiet@example.com")
    assert db.session.scalar(sa.select(Invitation.status).where(Invitation.user_id == user.id)) == \
        InvitationStatus.pending
    assert _enrollment(session.id, "quiet@example.com").status == EnrollmentStatus.invited
    assert count(OutboxEmail) == 0


def test_every_scim_change_is_an_audit_event_naming_the_token(app, scim):
    created = scim.create_user("ada@example.com")
    group = scim.create_group("Sales", [created["id"]])
    scim.patch(f"/Users/{created['id']}", {"op": "replace", "path": "active", "value": False})

    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action != "scim_token.created")
                                .order_by(AuditEvent.id)).all()
    actions = [event.action for event in events]
    assert {"user.created", "invitation.created", "group.created", "group.members_added",
            "user.deactivated"} <= set(actions)
    assert all(event.details["scim_token"]["name"] == "Entra ID" for event in events)
    lines = [entry.full_text for entry in describe(events)]
    assert "SCIM token “Entra ID” created the group" in lines
    assert group["displayName"] == "Sales"


def test_a_scim_user_added_to_a_group_of_a_future_session_is_on_its_roster_as_invited(
        app, scim, admin_client, make_session):
    group = scim.create_group("Sales")
    session = _future_session(make_session, int(group["id"]))
    user = scim.create_user("newhire@example.com", given="Nora", family="Newhire")

    response = scim.patch(f"/Groups/{group['id']}", {"op": "Add", "path": "members", "value": [{"value": user["id"]}]})

    assert response.status_code == 204
    assert _enrollment(session.id, "newhire@example.com").status == EnrollmentStatus.invited
    roster = admin_client.get(f"/sessions/{session.id}?status=invited").get_data(as_text=True)
    assert "Nora Newhire" in roster and "newhire@example.com" in roster


def test_active_false_deactivates_at_once_even_as_the_string_false(app, scim, make_user):
    person = make_user("leaver@example.com")
    listed = scim.get('/Users?filter=userName eq "LEAVER@example.com"').json
    assert listed["totalResults"] == 1
    user_id = listed["Resources"][0]["id"]

    response = scim.patch(f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": "False"})

    assert response.status_code == 200 and response.json["active"] is False
    assert user_of("leaver@example.com").status == UserStatus.deactivated
    assert not signs_in(app, "leaver@example.com", "correct-horse-battery")
    assert person.id == int(user_id)


def test_active_true_reactivates_and_invites_again_who_never_signed_in(app, scim):
    user = scim.create_user("back@example.com")
    scim.patch(f"/Users/{user['id']}", {"op": "replace", "value": {"active": False}})
    assert db.session.scalar(sa.select(Invitation.status).where(Invitation.user_id == int(user["id"]))) == \
        InvitationStatus.cancelled  # R6

    response = scim.patch(f"/Users/{user['id']}", {"op": "replace", "value": {"active": "True"}})

    assert response.json["active"] is True
    assert user_of("back@example.com").status == UserStatus.invited
    statuses = db.session.scalars(sa.select(Invitation.status).where(Invitation.user_id == int(user["id"]))
                                  .order_by(Invitation.id)).all()
    assert statuses == [InvitationStatus.cancelled, InvitationStatus.pending]


def test_removal_from_the_group_cancels_the_pending_enrollment(app, scim, make_session):
    user = scim.create_user("mover@example.com")
    group = scim.create_group("Support", [user["id"]])
    session = _future_session(make_session, int(group["id"]))
    assert _enrollment(session.id, "mover@example.com").status == EnrollmentStatus.invited

    response = scim.patch(f"/Groups/{group['id']}", {"op": "Remove", "path": f'members[value eq "{user["id"]}"]'})

    assert response.status_code == 204
    assert _enrollment(session.id, "mover@example.com").status == EnrollmentStatus.cancelled
    assert count(GroupMembership) == 0


def test_entra_removes_members_by_value_and_replaces_without_a_path(app, scim):
    first, second = scim.create_user("one@example.com"), scim.create_user("two@example.com")
    group = scim.create_group("Ops", [first["id"], second["id"]])

    scim.patch(f"/Groups/{group['id']}",
               {"op": "Remove", "path": "members", "value": [{"value": first["id"]}]},
               {"op": "Replace", "value": {"id": group["id"], "displayName": "Operations"}})

    shown = scim.get(f"/Groups/{group['id']}").json
    assert shown["displayName"] == "Operations" and [m["value"] for m in shown["members"]] == [second["id"]]
    assert db.session.get(Group, int(group["id"])).name == "Operations"


def test_entra_changes_the_work_email_and_names_in_one_patch(app, scim):
    user = scim.create_user("old@example.com")

    response = scim.patch(f"/Users/{user['id']}",
                          {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "New@Example.com"},
                          {"op": "Replace", "value": {"name.givenName": "Grace", "name.familyName": "Hopper"}},
                          {"op": "Add", "path": "title", "value": "Engineer"})

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["emails"] == [{"value": "new@example.com"}]
    person = user_of("new@example.com")
    assert (person.first_name, person.last_name) == ("Grace", "Hopper")
    assert user_of("old@example.com") is None


def test_a_repeated_post_of_someone_who_exists_is_a_409_uniqueness_error(app, scim):
    body = {"schemas": [USER_SCHEMA], "userName": "twice@example.com", "active": True}
    assert scim.post("/Users", body).status_code == 201

    again = scim.post("/Users", {**body, "userName": "TWICE@example.com"})

    assert again.status_code == 409
    assert again.json["scimType"] == "uniqueness" and "twice@example.com" in again.json["detail"]
    assert again.headers["Content-Type"] == "application/scim+json"
    assert count(User) == 1


def test_a_group_name_taken_is_a_409_too(app, scim):
    scim.create_group("Sales")
    again = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "SALES"})
    assert (again.status_code, again.json["scimType"]) == (409, "uniqueness")


def test_user_name_filters_match_in_any_case_and_unknown_people_match_nothing(app, scim):
    scim.create_user("Case@Example.com")

    for written in ("case@example.com", "CASE@EXAMPLE.COM", "Case@Example.com"):
        found = scim.get(f'/Users?filter=userName eq "{written}"').json
        assert found["totalResults"] == 1 and found["Resources"][0]["userName"] == "case@example.com"
    assert scim.get('/Users?filter=userName eq "nobody@example.com"').json["totalResults"] == 0
    assert scim.get('/Users?filter=USERNAME Eq "case@example.com"').json["totalResults"] == 1


def test_filters_combine_and_a_malformed_one_is_an_invalid_filter_error(app, scim):
    scim.create_user("ada@example.com", given="Ada", family="Lovelace", externalId="E-1")
    scim.create_user("grace@example.org", given="Grace", family="Hopper")

    def found(expression):
        return sorted(user["userName"] for user in scim.get(f"/Users?filter={expression}").json.get("Resources", []))

    assert found('emails[value ew "@example.com"] and active eq true') == ["ada@example.com"]
    assert found('name.familyName sw "hop" or externalId eq "E-1"') == ["ada@example.com", "grace@example.org"]
    assert found('not (externalId pr)') == ["grace@example.org"]
    assert found('meta.created gt "2000-01-01T00:00:00Z"') == ["ada@example.com", "grace@example.org"]
    bad = scim.get('/Users?filter=userName eq')
    assert (bad.status_code, bad.json["scimType"]) == (400, "invalidFilter")


def test_an_identity_provider_pages_through_thousands_of_people(app, scim):
    _people("p", 2500)

    seen, start = [], 1
    while True:
        page = scim.get(f"/Users?startIndex={start}&count=1000&attributes=userName").json
        assert page["totalResults"] == 2500
        seen += [user["userName"] for user in page["Resources"]]
        if start + page["itemsPerPage"] > page["totalResults"]:
            break
        start += page["itemsPerPage"]

    assert len(seen) == len(set(seen)) == 2500
    assert set(page["Resources"][0]) <= {"id", "userName", "schemas"}


def test_employee_number_is_the_external_id_when_there_is_none(app, scim):
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    scim.create_user("worker@example.com", schemas=[USER_SCHEMA, enterprise],
                     **{enterprise: {"employeeNumber": "70123", "department": "Sales"}})
    scim.create_user("both@example.com", externalId="okta-9",
                     **{enterprise: {"employeeNumber": "70124"}})

    assert user_of("worker@example.com").external_id == "70123"
    assert user_of("both@example.com").external_id == "okta-9"


def test_attributes_the_platform_does_not_keep_are_accepted_and_dropped(app, scim):
    created = scim.create_user("full@example.com", title="Manager", phoneNumbers=[{"value": "+32 2 555 01 23"}],
                               addresses=[{"locality": "Brussels"}], displayName="Full Name",
                               preferredLanguage="fr-BE")

    assert "title" not in created and "phoneNumbers" not in created
    assert user_of("full@example.com").language == "fr-BE"


def test_a_user_name_that_is_not_an_email_needs_an_email_in_emails(app, scim, admin_client):
    created = scim.create_user("ada@contoso.example", userName="ADA.UPN@contoso.onmicrosoft.example")
    assert created["userName"] == "ada.upn@contoso.onmicrosoft.example"
    page = admin_client.get(f"/admin/users/{created['id']}").get_data(as_text=True)
    assert "Identity provider user name: <code>ada.upn@contoso.onmicrosoft.example</code>" in page
    assert user_of("ada@contoso.example").scim_user_name == "ada.upn@contoso.onmicrosoft.example"
    assert scim.get('/Users?filter=userName eq "Ada.UPN@contoso.onmicrosoft.example"').json["totalResults"] == 1

    refused = scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "no-email", "active": True})
    assert refused.status_code == 400 and "emails" in refused.json["detail"]
    assert count(User) == 2  # and the admin


def test_delete_deactivates_keeps_the_account_and_a_new_post_brings_it_back(app, scim, admin_client):
    user = scim.create_user("rehire@example.com")

    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert "Deleted in the identity provider (SCIM)" in admin_client.get(f"/admin/users/{user['id']}").get_data(
        as_text=True)

    assert scim.get(f"/Users/{user['id']}").status_code == 404
    assert scim.get('/Users?filter=userName eq "rehire@example.com"').json["totalResults"] == 0
    assert user_of("rehire@example.com").status == UserStatus.deactivated

    again = scim.create_user("rehire@example.com", given="Rea")

    assert again["id"] == user["id"] and again["active"] is True
    assert user_of("rehire@example.com").status == UserStatus.invited
    assert count(User) == 2  # and the admin


def test_deleting_a_group_a_session_uses_empties_it_and_keeps_it_for_the_session(app, scim, make_session):
    user = scim.create_user("member@example.com")
    group = scim.create_group("Pilots", [user["id"]])
    session = _future_session(make_session, int(group["id"]))

    assert scim.delete(f"/Groups/{group['id']}").status_code == 204

    assert scim.get(f"/Groups/{group['id']}").status_code == 404
    assert db.session.get(Group, int(group["id"])).name == "Pilots"
    assert _enrollment(session.id, "member@example.com").status == EnrollmentStatus.cancelled
    unused = scim.create_group("Unused")
    assert scim.delete(f"/Groups/{unused['id']}").status_code == 204
    assert db.session.get(Group, int(unused["id"])) is None


def test_groups_hold_people_only(app, scim):
    user = scim.create_user("person@example.com")
    group = scim.create_group("Outer")

    nested = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Inner",
                                   "members": [{"value": group["id"], "type": "Group"}]})
    unknown = scim.patch(f"/Groups/{group['id']}", {"op": "add", "path": "members",
                                                   "value": [{"value": "999999"}, {"value": user["id"]}]})

    assert (nested.status_code, nested.json["scimType"]) == (400, "invalidValue")
    assert unknown.status_code == 400 and "999999" in unknown.json["detail"]
    assert count(GroupMembership) == 0  # nothing half-written


def test_okta_names_the_members_it_adds_and_reads_groups_without_members(app, scim):
    user = scim.create_user("okta@example.com")
    group = scim.create_group("Okta group")

    response = scim.patch(f"/Groups/{group['id']}", {"op": "add", "path": "members",
                                                    "value": [{"value": user["id"], "display": "okta@example.com"}]})

    assert response.status_code == 204
    lean = scim.get(f"/Groups/{group['id']}?excludedAttributes=members").json
    assert "members" not in lean and lean["displayName"] == "Okta group"
    assert [m["value"] for m in scim.get(f"/Groups/{group['id']}").json["members"]] == [user["id"]]


def test_unknown_ids_are_404_scim_errors(app, scim):
    for path in ("/Users/424242", "/Users/abc", "/Groups/424242", "/Groups/%00"):
        response = scim.get(path)
        assert response.status_code == 404 and response.json["status"] == "404"


def test_a_patch_adding_5000_members_is_a_handful_of_statements(app, scim, make_session):
    ids = [str(user_id) for user_id in _people("m", 5000)]
    group = scim.create_group("Everyone")
    session = _future_session(make_session, int(group["id"]))

    with statements_run() as statements:
        response = scim.patch(f"/Groups/{group['id']}",
                              {"op": "add", "path": "members", "value": [{"value": user_id} for user_id in ids]})

    assert response.status_code == 204
    db.session.expire_all()
    invited = db.session.scalar(sa.select(sa.func.count()).select_from(Enrollment).where(
        Enrollment.session_id == session.id, Enrollment.status == EnrollmentStatus.invited))
    assert invited == 5000
    assert len(statements) < 120, len(statements)


def test_entra_finds_a_group_by_id_and_member_without_reading_its_members(app, scim):
    member, other = scim.create_user("in@example.com"), scim.create_user("out@example.com")
    group = scim.create_group("Finance", [member["id"]])

    def matches(user):
        query = f'/Groups?filter=id eq "{group["id"]}" and members eq "{user["id"]}"&excludedAttributes=members'
        found = scim.get(query).json
        assert all("members" not in resource for resource in found.get("Resources", []))
        return found["totalResults"]

    assert (matches(member), matches(other)) == (1, 0)
    assert scim.get('/Groups?filter=displayName eq "FINANCE"').json["Resources"][0]["id"] == group["id"]


def test_the_feature_flag_entra_admins_add_to_the_tenant_url_is_accepted(app, scim):
    scim.create_user("flag@example.com")

    response = scim.get('/Users?aadOptscim062020&filter=userName eq "flag@example.com"')

    assert response.status_code == 200 and response.json["totalResults"] == 1


def test_okta_replaces_a_user_with_put_and_may_send_a_password_that_is_not_kept(app, scim):
    user = scim.create_user("okta.put@example.com", externalId="00u1")

    response = scim.put(f"/Users/{user['id']}", {
        "schemas": [USER_SCHEMA], "id": user["id"], "userName": "okta.put@example.com", "active": True,
        "name": {"givenName": "Olga", "familyName": "Okta"}, "password": "Sync3d-Password!",
        "emails": [{"value": "home@example.net", "type": "home"},
                   {"value": "okta.put@example.com", "type": "work", "primary": True}]})

    assert response.status_code == 200, response.get_data(as_text=True)
    person = user_of("okta.put@example.com")
    assert (person.first_name, person.last_name, person.external_id, person.password_hash) == (
        "Olga", "Okta", None, None)
    assert response.json["emails"] == [{"value": "okta.put@example.com"}]


def test_parallel_posts_of_one_person_create_one_account(app, scim_token):
    import threading

    from tests.scim.conftest import ScimClient

    clients = [ScimClient(app, scim_token) for _ in range(5)]
    barrier, statuses = threading.Barrier(len(clients)), []
    body = {"schemas": [USER_SCHEMA], "userName": "racer@example.com", "active": True}

    def post(client):
        barrier.wait()
        statuses.append(client.post("/Users", body).status_code)

    threads = [threading.Thread(target=post, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201, 409, 409, 409, 409]
    assert count(User) == 1 and count(Invitation) == 1


def test_adding_or_removing_one_member_costs_the_same_whatever_the_group_size(app, scim):
    from lms.enrollment.groups.services import add_group_members

    ids = _people("g", 3001)
    group = scim.create_group("All staff")
    add_group_members(db.session.get(Group, int(group["id"])), ids[:3000], actor=None, now=datetime.now(timezone.utc))
    db.session.commit()

    with statements_run() as statements:
        added = scim.patch(f"/Groups/{group['id']}", {"op": "add", "path": "members", "value": [{"value": str(ids[3000])}]})
        removed = scim.patch(f"/Groups/{group['id']}", {"op": "remove", "path": f'members[value eq "{ids[0]}"]'})
        by_value = scim.patch(f"/Groups/{group['id']}", {"op": "Remove", "path": "members",
                                                        "value": [{"value": str(ids[1])}]})

    assert (added.status_code, removed.status_code, by_value.status_code) == (204, 204, 204)
    assert len(statements) < 60, len(statements)
    assert not any("group_memberships.user_id" in statement and "ORDER BY" in statement for statement in statements)
    members = {m["value"] for m in scim.get(f"/Groups/{group['id']}").json["members"]}
    assert str(ids[3000]) in members and {str(ids[0]), str(ids[1])}.isdisjoint(members) and len(members) == 2999
    shown = scim.patch(f"/Groups/{group['id']}?attributes=members", {"op": "add", "path": "members",
                                                                       "value": [{"value": str(ids[0])}]})
    assert shown.status_code == 200 and len(shown.json["members"]) == 3000
