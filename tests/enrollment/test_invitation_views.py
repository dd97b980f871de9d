"""The staff pages for inviting people: the invite form (check, preview, send), "set an account",
and the invitations list with resend, cancel, copy link and bulk actions (R1, R7-R9)."""
import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from lms.accounts.models import Role, User, UserStatus
from lms.enrollment.groups.models import GroupMembership
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus, UserNotice
from lms.notifications.sealed import SEALED_PASSWORD
from lms.programs.models import SessionGroup
from lms.tokens import token_from_nonce
from tests.conftest import count, htmx_headers, login, user_of
from tests.pages import field_error, flashes, text, utcnow, visible

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


# --- helpers ------------------------------------------------------------------------------









def table_rows(html):
    """{email: status} of the invitations table, in order."""
    rows = {}
    for row in re.findall(r'<tr id="invitation-\d+">(.*?)</tr>', html, re.S):
        email = EMAIL.search(visible(row)).group(0)
        rows[email] = re.search(r'class="badge badge-(\w+)"', row).group(1)
    return rows


def invitation_of(email):
    db.session.expire_all()
    return db.session.scalar(
        select(Invitation).join(User, User.id == Invitation.user_id).where(User.email == email)
        .order_by(Invitation.id.desc())
    )


def everything():
    """What an invite request can write: users, invitations, memberships, emails, notices."""
    return tuple(count(model) for model in (User, Invitation, GroupMembership, OutboxEmail, UserNotice))


def group_member_emails(group_id):
    db.session.expire_all()
    return set(db.session.scalars(
        select(User.email).join(GroupMembership, GroupMembership.user_id == User.id)
        .where(GroupMembership.group_id == group_id)
    ))


def emails_to(address, kind=None):
    db.session.expire_all()
    query = select(OutboxEmail).where(OutboxEmail.recipient == address).order_by(OutboxEmail.id)
    if kind:
        query = query.where(OutboxEmail.kind == kind)
    return db.session.scalars(query).all()


def invite(emails, *, actor, groups=(), role=Role.learner, language="en", message=""):
    """Invitations made through the service, as any door would; committed, in the order of `emails`."""
    emails = list(emails)
    outcome = invite_people(emails, actor=actor, now=utcnow(), role=role,
                            group_ids=[group.id for group in groups], language=language, message=message)
    db.session.commit()
    return sorted(outcome.invitations, key=lambda invitation: emails.index(invitation.user.email))


def token_of(invitation):
    db.session.refresh(invitation)
    return token_from_nonce(invitation.token_nonce)


def set_status(invitation, status, **values):
    db.session.execute(update(Invitation).where(Invitation.id == invitation.id)
                       .values(status=status, **values))
    db.session.commit()


def registration_form_opens(client, token):
    response = client.get(f"/invitation/{token}")
    return response.status_code == 200 and "Create my account" in text(response)


def invite_data(emails, **fields):
    data = {"emails": emails, "role": "learner", "language": "en", "message": "", "send_email": "y"}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def manager(manager_client):
    return db.session.scalar(select(User).where(User.email == "manager@example.com"))


@pytest.fixture
def trained_group(app, manager, make_group, make_session, now):
    """A group assigned to an upcoming session that the manager trains (its members are
    registered in it, so the manager reaches them)."""
    group = make_group("Trainer Cohort")
    session = make_session(trainer=manager, starts_at=utcnow() + timedelta(days=7))
    db.session.add(SessionGroup(session_id=session.id, group_id=group.id, created_at=now))
    db.session.commit()
    return group


@pytest.fixture
def other_group(make_group):
    return make_group("Other Cohort")


# --- the invite form ----------------------------------------------------------------------


def test_the_invite_page_is_a_full_page_with_the_form_and_its_defaults(admin_client, make_group):
    make_group("Sales North")

    response = admin_client.get("/admin/invite")

    html = text(response)
    assert response.status_code == 200
    assert "<html" in html and '<div id="invite-panel">' in html
    assert re.search(r'<textarea[^>]*name="emails"', html)
    assert re.search(r'<input[^>]*checked[^>]*name="send_email"|<input[^>]*name="send_email"[^>]*checked', html)
    role_select = re.search(r'<select[^>]*name="role".*?</select>', html, re.S).group(0)
    roles = re.findall(r'<option[^>]*value="(\w+)"', role_select)
    assert roles == ["learner", "manager", "admin"]  # the first, so the default, is learner
    assert "selected" not in role_select or re.search(r'<option selected value="learner">', role_select)
    assert "Sales North" in html
    assert "Set an account" in html  # the admin's second tab
    assert re.search(r'<option selected value="en">|<option value="en" selected>', html)


def test_inviting_through_htmx_answers_with_a_summary_and_creates_the_invitations(
    admin_client, admin, make_user, make_group
):
    make_user("existing@example.com", first_name="Eve", last_name="Existing")
    make_user("gone@example.com", status=UserStatus.deactivated)
    group = make_group("Sales North")
    emails = ("New.One@Example.com, new2@example.com\nexisting@example.com; not-an-email "
              "new.one@example.com gone@example.com")

    response = admin_client.post("/admin/invite", data=invite_data(emails, groups=str(group.id)),
                                 headers=htmx_headers("invite-panel"))

    html = text(response)
    assert response.status_code == 200
    assert "<html" not in html
    summary = visible(re.search(r'<article class="summary".*?</article>', html, re.S).group(0))
    assert "2 invited: new.one@example.com, new2@example.com" in summary
    assert "1 already had an account and was added to Sales North: existing@example.com" in summary
    assert "2 rejected" in summary
    assert "not-an-email: not a valid email address" in summary
    assert "gone@example.com: this account is deactivated; reactivate it first" in summary
    # Typed twice is not "rejected": the address was invited, once (issue 16, line 7).
    assert "1 typed more than once, invited once: new.one@example.com" in summary
    assert ("Invited 2; 1 already had an account and was added to Sales North; 1 typed twice (counted once); "
            "2 rejected.") in flashes(html)
    # The form is emptied for the next batch.
    assert re.search(r'<textarea[^>]*name="emails"[^>]*>\s*</textarea>', html)

    for email in ("new.one@example.com", "new2@example.com"):
        invitation = invitation_of(email)
        assert invitation.status == InvitationStatus.pending
        assert invitation.invited_by_id == admin.id
        assert invitation.role == Role.learner
        assert user_of(email).status == UserStatus.invited
        assert [e.kind for e in emails_to(email)] == ["invitation"]
    assert group_member_emails(group.id) == {"new.one@example.com", "new2@example.com", "existing@example.com"}
    assert invitation_of("existing@example.com") is None
    assert user_of("existing@example.com").status == UserStatus.active
    assert invitation_of("gone@example.com") is None
    assert "gone@example.com" not in group_member_emails(group.id)


def test_inviting_someone_whose_invitation_is_pending_says_so_and_sends_nothing_new(admin_client, admin):
    (invitation,) = invite(["waiting@example.com"], actor=admin)
    token = token_of(invitation)

    response = admin_client.post("/admin/invite", data=invite_data("waiting@example.com"),
                                 headers=htmx_headers("invite-panel"))

    summary = visible(text(response))
    assert "0 invited" in summary
    assert "1 already invited (their invitation is still pending): waiting@example.com" in summary
    assert token_of(invitation_of("waiting@example.com")) == token
    assert len(emails_to("waiting@example.com")) == 1


def test_inviting_without_htmx_renders_the_whole_page_with_the_summary(admin_client):
    response = admin_client.post("/admin/invite", data=invite_data("solo@example.com"))

    html = text(response)
    assert response.status_code == 200
    assert "<html" in html
    assert "1 invited: solo@example.com" in visible(html)
    assert invitation_of("solo@example.com").status == InvitationStatus.pending


def test_unticking_send_email_invites_without_queueing_an_email(admin_client):
    response = admin_client.post("/admin/invite", data=invite_data("quiet@example.com", send_email=None),
                                 headers=htmx_headers("invite-panel"))

    assert response.status_code == 200
    assert invitation_of("quiet@example.com").status == InvitationStatus.pending
    assert emails_to("quiet@example.com") == []


@pytest.mark.parametrize("emails, message", [
    ("", "Enter at least one email address."),
    ("nope, also-nope", "None of these is a valid email address."),
])
def test_a_list_without_any_valid_address_is_an_error_next_to_the_field(admin_client, emails, message):
    before = everything()

    response = admin_client.post("/admin/invite", data=invite_data(emails),
                                 headers=htmx_headers("invite-panel"))

    html = text(response)
    assert response.status_code == 422
    assert "<html" not in html
    assert field_error(html, "emails") == message
    assert everything() == before


def test_more_than_a_thousand_addresses_are_refused_whole(admin_client):
    emails = "\n".join(f"person{n}@example.com" for n in range(1001))
    before = everything()

    response = admin_client.post("/admin/invite", data=invite_data(emails),
                                 headers=htmx_headers("invite-panel"))

    assert response.status_code == 422
    assert field_error(text(response), "emails") == \
        "At most 1,000 addresses at once; this list has 1,001."
    assert everything() == before


def test_a_forged_invite_without_the_csrf_token_writes_nothing(admin_client):
    before = everything()

    response = admin_client.post("/admin/invite", data=invite_data("forged@example.com"), csrf=False)

    assert response.status_code == 400
    assert everything() == before


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_an_admin_can_invite_managers_and_admins(admin_client, role):
    response = admin_client.post("/admin/invite", data=invite_data("staff@example.com", role=role),
                                 headers=htmx_headers("invite-panel"))

    assert response.status_code == 200
    assert invitation_of("staff@example.com").role == Role(role)


# --- inline check of the address list -----------------------------------------------------


def test_the_address_check_counts_valid_addresses_and_explains_each_one_left_out(admin_client):
    before = everything()

    response = admin_client.post("/admin/invite/check", headers=htmx_headers("email-check"), data={
        "emails": "ann@example.com, bob@example.com; not-an-email\nANN@example.com\n"
                  "James Smith <james@example.com>",
    })

    html = text(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert "3 valid addresses; 1 will be left out:" in visible(html)
    items = [visible(item) for item in re.findall(r"<li>(.*?)</li>", html, re.S)]
    assert items == ["not-an-email — not a valid email address"]
    assert "Typed more than once, counted once: ann@example.com." in visible(html)
    assert everything() == before


def test_the_address_check_of_a_clean_list_lists_nothing(admin_client):
    response = admin_client.post("/admin/invite/check", data={"emails": "ann@example.com"},
                                 headers=htmx_headers("email-check"))

    assert re.match(r"1 valid address(?!es)", visible(text(response)))
    assert "<li>" not in text(response)


def test_the_address_check_gives_the_limit_message_beyond_a_thousand(admin_client):
    emails = " ".join(f"p{n}@example.com" for n in range(1500))

    response = admin_client.post("/admin/invite/check", data={"emails": emails},
                                 headers=htmx_headers("email-check"))

    html = text(response)
    assert response.status_code == 200
    assert re.search(r'<small class="field-error">(.*?)</small>', html).group(1) == \
        "At most 1,000 addresses at once; this list has 1,500."
    assert "valid address" not in html


# --- preview ------------------------------------------------------------------------------


def preview_parts(html):
    """(recipient, subject, the HTML email as the browser renders the srcdoc, the text version)."""
    recipient = visible(re.search(r"To: <strong>(.*?)</strong>", html).group(1))
    subject = visible(re.search(r"<br><strong>(.*?)</strong>", html, re.S).group(1))
    srcdoc = unescape(re.search(r'srcdoc="([^"]*)"', html).group(1))
    plain = unescape(re.search(r'<pre class="email-text">(.*?)</pre>', html, re.S).group(1))
    return recipient, subject, srcdoc, plain


def test_the_preview_shows_the_email_as_the_first_invitee_gets_it(admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.post("/admin/invite/preview", headers=htmx_headers("invite-preview"), data=invite_data(
        "bad-address, first@example.com, second@example.com", groups=str(group.id),
        message="Welcome aboard, see you on Monday.",
    ))

    html = text(response)
    assert response.status_code == 200
    assert "<html" not in html
    recipient, subject, email_html, plain = preview_parts(html)
    assert recipient == "first@example.com"
    assert subject == "Ada Admin invited you to LMS"
    assert "Ada Admin invites you to join LMS." in visible(email_html)
    assert "Welcome aboard, see you on Monday." in visible(email_html)
    assert "Sales North" in visible(email_html)
    assert "Accept the invitation" in visible(email_html)
    assert "Welcome aboard, see you on Monday." in plain and "- Sales North" in plain
    assert everything()[1:] == (0, 0, 0, 0)  # a preview invites nobody


def test_the_preview_is_in_the_chosen_language(admin_client, make_group):
    group = make_group("Équipe Nord")

    response = admin_client.post("/admin/invite/preview", data=invite_data(
        "marie@example.com", language="fr", groups=str(group.id), message="Bienvenue !"))

    recipient, subject, email_html, plain = preview_parts(text(response))
    assert recipient == "marie@example.com"
    assert subject == "Ada Admin vous invite sur LMS"
    body = visible(email_html)
    assert "Ada Admin vous invite à rejoindre LMS." in body
    assert "Vous rejoindrez ces groupes :" in body and "Équipe Nord" in body
    assert "Accepter l'invitation" in body
    assert "Bienvenue !" in body
    assert "Accept the invitation" not in body
    assert "Accepter l'invitation" in plain


def test_the_personal_message_in_the_preview_is_not_executable(admin_client, make_group):
    group = make_group("<b>Bold</b> group")
    message = '<script>alert("hi")</script><img src=x onerror=alert(1)>'

    response = admin_client.post("/admin/invite/preview", data=invite_data(
        "first@example.com", message=message, groups=str(group.id)))

    html = text(response)
    assert response.status_code == 200
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    _, _, email_html, plain = preview_parts(html)
    # What the browser builds from srcdoc: the message is text, not markup.
    assert "<script" not in email_html and "<img" not in email_html and "<b>" not in email_html
    assert "&lt;script&gt;" in email_html
    assert visible(email_html).count('<script>alert("hi")</script>') == 1
    assert "<b>Bold</b> group" in visible(email_html)
    assert message in plain


# --- managers -----------------------------------------------------------------------------


def test_a_manager_sees_only_the_groups_of_the_sessions_they_train_and_only_the_learner_role(
    manager_client, trained_group, other_group
):
    response = manager_client.get("/admin/invite")

    html = text(response)
    assert response.status_code == 200
    assert "Trainer Cohort" in html
    assert "Other Cohort" not in html
    role_select = re.search(r'<select[^>]*name="role".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option[^>]*value="(\w+)"', role_select) == ["learner"]
    assert "Set an account" not in html


def test_a_manager_invites_learners_into_a_group_of_their_session(manager_client, manager, trained_group):
    response = manager_client.post("/admin/invite", headers=htmx_headers("invite-panel"),
                                   data=invite_data("trainee@example.com", groups=str(trained_group.id)))

    assert response.status_code == 200
    assert "1 invited: trainee@example.com" in visible(text(response))
    invitation = invitation_of("trainee@example.com")
    assert invitation.role == Role.learner and invitation.invited_by_id == manager.id
    assert group_member_emails(trained_group.id) == {"trainee@example.com"}


def test_a_manager_cannot_forge_the_admin_role(manager_client, trained_group):
    before = everything()

    response = manager_client.post("/admin/invite", headers=htmx_headers("invite-panel"), data=invite_data(
        "boss@example.com", role="admin", groups=str(trained_group.id)))

    assert response.status_code == 422
    assert field_error(text(response), "role") is not None
    assert everything() == before
    assert user_of("boss@example.com") is None


def test_a_manager_cannot_invite_into_a_group_they_do_not_train(manager_client, trained_group, other_group):
    before = everything()

    response = manager_client.post("/admin/invite", headers=htmx_headers("invite-panel"), data=invite_data(
        "sneaky@example.com", groups=str(other_group.id)))

    assert response.status_code == 422
    assert "Other Cohort" not in text(response)
    assert everything() == before


def test_a_manager_preview_leaves_out_groups_they_do_not_train(manager_client, trained_group, other_group):
    response = manager_client.post("/admin/invite/preview", data={
        "emails": "a@example.com", "language": "en", "role": "learner",
        "groups": [str(trained_group.id), str(other_group.id)],
    })

    assert response.status_code == 200
    _, _, email_html, _ = preview_parts(text(response))
    assert "Trainer Cohort" in visible(email_html)
    assert "Other Cohort" not in text(response)


def test_a_manager_cannot_see_or_act_on_invitations_of_other_groups(
    manager_client, manager, admin, trained_group, other_group
):
    (theirs,) = invite(["in-my-session@example.com"], actor=admin, groups=[trained_group])
    (foreign,) = invite(["elsewhere@example.com"], actor=admin, groups=[other_group])
    token = token_of(foreign)

    listing = text(manager_client.get("/admin/invitations"))
    assert table_rows(listing) == {"in-my-session@example.com": "pending"}
    assert "elsewhere@example.com" not in listing
    assert "elsewhere@example.com" not in text(manager_client.get("/admin/invitations?q=elsewhere"))

    assert manager_client.post(f"/admin/invitations/{foreign.id}/resend").status_code == 403
    assert manager_client.post(f"/admin/invitations/{foreign.id}/cancel").status_code == 403
    link = manager_client.get(f"/admin/invitations/{foreign.id}/link")
    assert link.status_code == 403 and token not in text(link)
    assert manager_client.post("/admin/invitations/bulk", data={
        "action": "cancel", "ids": [str(theirs.id), str(foreign.id)]}).status_code == 403

    assert invitation_of("elsewhere@example.com").status == InvitationStatus.pending
    assert invitation_of("in-my-session@example.com").status == InvitationStatus.pending
    assert token_of(invitation_of("elsewhere@example.com")) == token
    # ...while their own group's invitation is theirs to handle.
    assert manager_client.post(f"/admin/invitations/{theirs.id}/cancel").status_code == 303
    assert invitation_of("in-my-session@example.com").status == InvitationStatus.cancelled


def test_a_manager_cannot_obtain_a_working_link_to_a_staff_invitation(
    app, manager_client, admin, trained_group
):
    """Copying a link lets its holder register as the invitee: a manager must not get one that
    signs them up as an admin (R8), not even by inviting that address into their own group."""
    (staff,) = invite(["boss@example.com"], actor=admin, role=Role.admin)
    token = token_of(staff)
    manager_client.post("/admin/invite", headers=htmx_headers("invite-panel"),
                        data=invite_data("boss@example.com", groups=str(trained_group.id)))

    seen = [manager_client.get("/admin/invitations"),
            manager_client.get("/admin/invitations?q=boss", headers=htmx_headers("invitation-table")),
            manager_client.get(f"/admin/invitations/{staff.id}/link"),
            manager_client.get(f"/admin/invitations/{staff.id}/link", headers=htmx_headers(f"link-{staff.id}"))]

    for response in seen:
        assert token not in text(response), response.request.url
    # What is at stake: whoever holds that link registers and is an admin.
    registration = app.test_client().post(f"/invitation/{token}", data={
        "first_name": "Mal", "last_name": "Lory", "password": "takeover-123", "confirm": "takeover-123"})
    assert registration.status_code == 303
    assert user_of("boss@example.com").role == Role.admin


# --- the invitations list -----------------------------------------------------------------


@pytest.fixture
def every_status(admin):
    """One invitation in each state, including one past its date that the scheduler has not marked."""
    emails = ["pending@example.com", "accepted@example.com", "declined@example.com",
              "cancelled@example.com", "expired@example.com", "overdue@example.com"]
    invitations = dict(zip(emails, invite(emails, actor=admin)))
    set_status(invitations["accepted@example.com"], InvitationStatus.accepted)
    set_status(invitations["declined@example.com"], InvitationStatus.declined)
    set_status(invitations["cancelled@example.com"], InvitationStatus.cancelled)
    set_status(invitations["expired@example.com"], InvitationStatus.expired,
               expires_at=utcnow() - timedelta(days=2))
    set_status(invitations["overdue@example.com"], InvitationStatus.pending,
               expires_at=utcnow() - timedelta(minutes=1))
    return invitations


def test_the_list_shows_every_invitation_with_its_status_and_inviter(admin_client, every_status):
    response = admin_client.get("/admin/invitations")

    html = text(response)
    assert response.status_code == 200
    assert "<html" in html and '<div id="invitation-table"' in html
    assert table_rows(html) == {
        "pending@example.com": "pending",
        "accepted@example.com": "accepted",
        "declined@example.com": "declined",
        "cancelled@example.com": "cancelled",
        "expired@example.com": "expired",
        "overdue@example.com": "expired",  # its date passed: expired before the scheduler runs
    }
    assert "6 invitations" in html
    assert visible(html).count("Ada Admin") >= 6


@pytest.mark.parametrize("status, expected", [
    ("pending", {"pending@example.com"}),
    ("accepted", {"accepted@example.com"}),
    ("declined", {"declined@example.com"}),
    ("cancelled", {"cancelled@example.com"}),
    ("expired", {"expired@example.com", "overdue@example.com"}),
    ("", {"pending@example.com", "accepted@example.com", "declined@example.com",
          "cancelled@example.com", "expired@example.com", "overdue@example.com"}),
])
def test_the_list_filters_by_status(admin_client, every_status, status, expected):
    response = admin_client.get(f"/admin/invitations?status={status}", headers=htmx_headers("invitation-table"))

    html = text(response)
    assert response.status_code == 200
    assert "<html" not in html
    assert set(table_rows(html)) == expected


def test_the_list_searches_by_email_and_answers_htmx_with_the_table_only(admin_client, admin):
    invite(["marie.dubois@example.com", "james.smith@example.com", "marie.curie@example.org"], actor=admin)

    fragment = admin_client.get("/admin/invitations?q=MARIE", headers=htmx_headers("invitation-table"))
    page = admin_client.get("/admin/invitations?q=marie")

    assert fragment.status_code == 200
    assert "<html" not in text(fragment)
    assert set(table_rows(text(fragment))) == {"marie.dubois@example.com", "marie.curie@example.org"}
    assert "<html" in text(page)
    assert set(table_rows(text(page))) == {"marie.dubois@example.com", "marie.curie@example.org"}
    assert 'value="marie"' in text(page)
    nothing = admin_client.get("/admin/invitations?q=nobody", headers=htmx_headers("invitation-table"))
    assert "No invitation matches." in text(nothing)


# --- resend, cancel, copy link ------------------------------------------------------------


def test_resend_through_htmx_returns_the_row_and_kills_the_old_link(admin_client, client, admin):
    (invitation,) = invite(["late@example.com"], actor=admin)
    old_token = token_of(invitation)
    set_status(invitation, InvitationStatus.pending, expires_at=utcnow() + timedelta(days=1))

    response = admin_client.post(f"/admin/invitations/{invitation.id}/resend",
                                 headers=htmx_headers(f"invitation-{invitation.id}"))

    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="invitation-{invitation.id}">')
    assert "<html" not in html
    assert table_rows(html) == {"late@example.com": "pending"}
    assert "1 invitation resent." in flashes(html)
    fresh = invitation_of("late@example.com")
    assert fresh.expires_at > utcnow() + timedelta(days=29)
    new_token = token_of(fresh)
    assert new_token != old_token
    assert not registration_form_opens(client, old_token)
    assert client.get(f"/invitation/{old_token}").status_code == 404
    assert registration_form_opens(client, new_token)
    sent = emails_to("late@example.com", "invitation")
    assert [e.status for e in sent] == [OutboxStatus.cancelled, OutboxStatus.queued]


def test_resending_an_expired_invitation_makes_it_pending_again(admin_client, admin):
    (invitation,) = invite(["expired@example.com"], actor=admin)
    set_status(invitation, InvitationStatus.expired, expires_at=utcnow() - timedelta(days=1))

    response = admin_client.post(f"/admin/invitations/{invitation.id}/resend")

    assert response.status_code == 303
    assert response.location == "/admin/invitations"
    assert table_rows(text(admin_client.get("/admin/invitations"))) == {"expired@example.com": "pending"}


def test_cancel_kills_the_link_and_the_queued_email(admin_client, client, admin):
    (invitation,) = invite(["changed-mind@example.com"], actor=admin)
    token = token_of(invitation)
    assert registration_form_opens(client, token)

    response = admin_client.post(f"/admin/invitations/{invitation.id}/cancel",
                                 headers=htmx_headers(f"invitation-{invitation.id}"))

    html = text(response)
    assert response.status_code == 200
    assert table_rows(html) == {"changed-mind@example.com": "cancelled"}
    assert "Cancel</button>" not in html  # nothing left to cancel on that row
    assert "1 invitation cancelled." in flashes(html)
    assert invitation_of("changed-mind@example.com").status == InvitationStatus.cancelled
    dead = client.get(f"/invitation/{token}")
    assert dead.status_code == 410
    assert "This invitation was cancelled" in text(dead)
    assert [e.status for e in emails_to("changed-mind@example.com")] == [OutboxStatus.cancelled]


def test_cancelling_twice_says_it_is_already_cancelled(admin_client, admin):
    (invitation,) = invite(["twice@example.com"], actor=admin)
    admin_client.post(f"/admin/invitations/{invitation.id}/cancel")

    response = admin_client.post(f"/admin/invitations/{invitation.id}/cancel",
                                 headers=htmx_headers(f"invitation-{invitation.id}"))

    assert "twice@example.com: not cancelled (already cancelled)." in flashes(text(response))


def test_copy_link_shows_the_current_working_link(admin_client, client, admin, app):
    (invitation,) = invite(["lost-email@example.com"], actor=admin)

    page = admin_client.get(f"/admin/invitations/{invitation.id}/link")
    fragment = admin_client.get(f"/admin/invitations/{invitation.id}/link",
                                headers=htmx_headers(f"link-{invitation.id}"))

    assert page.status_code == 200 and "<html" in text(page)
    assert "Invitation link for lost-email@example.com" in text(page)
    assert fragment.status_code == 200 and "<html" not in text(fragment)
    link = unescape(re.search(r'<input id="link-input-\d+" type="text" readonly value="([^"]+)"',
                              text(fragment)).group(1))
    assert link == f"{app.config['BASE_URL']}/invitation/{token_of(invitation)}"
    assert registration_form_opens(client, urlsplit(link).path.rsplit("/", 1)[1])


def test_copy_link_of_a_cancelled_invitation_says_it_is_no_longer_pending(admin_client, admin):
    (invitation,) = invite(["cancelled@example.com"], actor=admin)
    token = token_of(invitation)
    admin_client.post(f"/admin/invitations/{invitation.id}/cancel")

    response = admin_client.get(f"/admin/invitations/{invitation.id}/link",
                                headers=htmx_headers(f"link-{invitation.id}"))

    html = text(response)
    assert response.status_code == 200
    assert "This invitation is no longer pending: resend it to get a working link." in visible(html)
    assert token not in html and "/invitation/" not in html


def test_an_unknown_invitation_is_not_found(admin_client):
    assert admin_client.get("/admin/invitations/999999/link").status_code == 404
    assert admin_client.post("/admin/invitations/999999/resend").status_code == 404
    assert admin_client.post("/admin/invitations/999999/cancel").status_code == 404


# --- bulk ---------------------------------------------------------------------------------


def test_bulk_resend_gives_each_ticked_invitation_a_new_link(admin_client, client, admin):
    one, two, untouched = invite(["one@example.com", "two@example.com", "three@example.com"], actor=admin)
    tokens = {inv.id: token_of(inv) for inv in (one, two, untouched)}

    response = admin_client.post("/admin/invitations/bulk",
                                 data={"action": "resend", "ids": [str(one.id), str(two.id)]})

    assert response.status_code == 303
    assert "2 invitations resent." in flashes(text(admin_client.get(response.location)))
    for invitation in (one, two):
        assert not registration_form_opens(client, tokens[invitation.id])
        assert registration_form_opens(client, token_of(db.session.get(Invitation, invitation.id)))
    assert registration_form_opens(client, tokens[untouched.id])
    assert len(emails_to("one@example.com", "invitation")) == 2
    assert len(emails_to("three@example.com", "invitation")) == 1


def test_bulk_cancel_cancels_the_ticked_invitations_only(admin_client, client, admin):
    one, two, kept = invite(["one@example.com", "two@example.com", "kept@example.com"], actor=admin)
    tokens = {inv.id: token_of(inv) for inv in (one, two, kept)}

    response = admin_client.post("/admin/invitations/bulk?status=pending",
                                 data={"action": "cancel", "ids": [str(one.id), str(two.id)]})

    assert response.status_code == 303
    assert response.location == "/admin/invitations?status=pending"
    after = admin_client.get(response.location)
    assert "2 invitations cancelled." in flashes(text(after))
    assert table_rows(text(after)) == {"kept@example.com": "pending"}
    assert client.get(f"/invitation/{tokens[one.id]}").status_code == 410
    assert client.get(f"/invitation/{tokens[two.id]}").status_code == 410
    assert registration_form_opens(client, tokens[kept.id])
    assert [e.status for e in emails_to("one@example.com")] == [OutboxStatus.cancelled]
    assert [e.status for e in emails_to("kept@example.com")] == [OutboxStatus.queued]


@pytest.mark.parametrize("action", ["resend", "cancel"])
def test_bulk_with_nothing_ticked_says_so_and_changes_nothing(admin_client, admin, action):
    (invitation,) = invite(["alone@example.com"], actor=admin)
    token = token_of(invitation)

    response = admin_client.post("/admin/invitations/bulk", data={"action": action})

    assert response.status_code == 303
    assert "Tick at least one invitation first." in flashes(text(admin_client.get(response.location)))
    fresh = invitation_of("alone@example.com")
    assert fresh.status == InvitationStatus.pending and token_of(fresh) == token
    assert len(emails_to("alone@example.com")) == 1


def test_bulk_reports_the_invitations_it_could_not_handle(admin_client, admin):
    done, used = invite(["fine@example.com", "used@example.com"], actor=admin)
    set_status(used, InvitationStatus.accepted)

    response = admin_client.post("/admin/invitations/bulk",
                                 data={"action": "resend", "ids": [str(done.id), str(used.id)]})

    messages = flashes(text(admin_client.get(response.location)))
    assert "1 invitation resent." in messages
    assert "used@example.com: not resent (already accepted)." in messages


# --- deactivation date ------------------------------------------------------------------


@pytest.mark.parametrize("days", [0, -1], ids=["today", "yesterday"])
@pytest.mark.parametrize("path, data", [
    ("/admin/invite", invite_data("short-lived@example.com")),
    ("/admin/accounts/new", {"email": "short-lived@example.com", "first_name": "Sam", "last_name": "Set",
                             "password": "chosen-by-admin", "role": "learner", "language": "en",
                             "send_email": "y"}),
], ids=["invite", "set an account"])
def test_a_deactivation_date_that_has_already_come_is_refused(admin_client, path, data, days):
    """The users page refuses it ("Choose a date after today"); accepted here, the next run of the
    scheduler deactivates the new account at once and cancels the email just queued for it."""
    day = (utcnow() + timedelta(days=days)).date().isoformat()
    before = everything()

    response = admin_client.post(path, data={**data, "deactivate_on": day})

    assert response.status_code == 422
    assert field_error(text(response), "deactivate_on") is not None
    assert everything() == before


def test_a_future_deactivation_date_is_kept_on_the_invited_account(admin_client):
    day = (utcnow() + timedelta(days=90)).date()

    response = admin_client.post("/admin/invite", headers=htmx_headers("invite-panel"),
                                 data=invite_data("seasonal@example.com", deactivate_on=day.isoformat()))

    assert response.status_code == 200
    assert user_of("seasonal@example.com").deactivate_on == day


# --- set an account -----------------------------------------------------------------------


def account_data(email="set@example.com", **fields):
    data = {"email": email, "first_name": "Sam", "last_name": "Set", "password": "chosen-by-admin",
            "role": "learner", "language": "en", "send_email": "y"}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def test_set_an_account_is_for_admins_only(manager_client):
    assert manager_client.get("/admin/accounts/new").status_code == 403
    response = manager_client.post("/admin/accounts/new", data=account_data())
    assert response.status_code == 403
    assert user_of("set@example.com") is None


def test_set_an_account_page_is_a_full_page(admin_client, make_group):
    make_group("Sales North")

    response = admin_client.get("/admin/accounts/new")

    html = text(response)
    assert response.status_code == 200
    assert "<html" in html and '<div id="account-panel">' in html
    assert "Sales North" in html
    assert "Include the password in that email" in html
    assert not re.search(r'<input[^>]*checked[^>]*name="include_password"|'
                         r'<input[^>]*name="include_password"[^>]*checked', html)


def test_set_an_account_creates_an_active_user_who_can_sign_in(app, admin_client, make_group):
    group = make_group("Sales North")

    response = admin_client.post("/admin/accounts/new", data=account_data(groups=str(group.id), role="manager"))

    user = user_of("set@example.com")
    assert response.status_code == 303
    assert response.location == f"/admin/users/{user.id}"
    assert "Account created for set@example.com." in flashes(text(admin_client.get(response.location)))
    assert user.status == UserStatus.active and user.role == Role.manager
    assert (user.first_name, user.last_name) == ("Sam", "Set")
    assert group_member_emails(group.id) == {"set@example.com"}
    signed_in = login(app.test_client(), user, password="chosen-by-admin")
    assert "Hello, Sam" in text(signed_in.get("/"))


def test_set_an_account_through_htmx_with_a_duplicate_email_is_a_field_error(admin_client, make_user):
    make_user("taken@example.com")
    before = everything()

    response = admin_client.post("/admin/accounts/new", data=account_data("Taken@Example.com"),
                                 headers=htmx_headers("account-panel"))

    html = text(response)
    assert response.status_code == 422
    assert "<html" not in html
    assert field_error(html, "email") == "A user with the email taken@example.com already exists."
    assert everything() == before


def test_set_an_account_refuses_a_short_password(admin_client):
    response = admin_client.post("/admin/accounts/new", data=account_data(password="short"))

    assert response.status_code == 422
    assert field_error(text(response), "password") is not None
    assert user_of("set@example.com") is None


@pytest.mark.parametrize("include_password", [True, False])
def test_the_sign_in_email_carries_the_password_only_when_asked(admin_client, include_password):
    data = account_data(include_password="y" if include_password else None)

    admin_client.post("/admin/accounts/new", data=data)

    (email,) = emails_to("set@example.com")
    assert email.kind == "account_created"
    assert (SEALED_PASSWORD in email.context) is include_password
    shown = visible(text(admin_client.get(f"/admin/outbox/{email.id}")))
    assert "chosen-by-admin" not in shown  # the outbox page never shows the password...
    assert ("Your password is: ••••••••" in shown) is include_password  # ...only that one goes
    if not include_password:
        assert "Your administrator will tell you your password." in shown


def test_set_an_account_without_the_email_queues_nothing(admin_client):
    admin_client.post("/admin/accounts/new", data=account_data(send_email=None, include_password="y"))

    assert user_of("set@example.com").status == UserStatus.active
    assert emails_to("set@example.com") == []


def test_inviting_existing_accounts_without_a_group_says_nothing_was_done_for_them(admin_client, make_user):
    """Issue 16, line 7: no group ticked, so nobody was "added to the groups"."""
    make_user("existing@example.com")

    response = admin_client.post("/admin/invite", data=invite_data("existing@example.com, new@example.com"),
                                 headers=htmx_headers("invite-panel"))

    summary = visible(re.search(r'<article class="summary".*?</article>', text(response), re.S).group(0))
    assert "1 already had an account: nothing to do, no group was chosen: existing@example.com" in summary
    assert "added to" not in summary
    assert "Invited 1; 1 already had an account (nothing to do: no group was chosen)." in flashes(text(response))
