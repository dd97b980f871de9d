"""Who may use the staff pages: anonymous visitors are sent to sign in, learners get 403,
managers get 403 on the admin-only pages and nothing of the world elsewhere (it belongs to no
session they train), admins are served. A program's pages serve its owner and the trainers of
its sessions as they serve an admin. One table lists every staff route."""
from datetime import datetime, timedelta, timezone
from typing import Callable, NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role, User, UserLabel, UserStatus
from lms.enrollment.groups.models import Group, GroupMembership
from lms.enrollment.invitations.models import Invitation, InvitationStatus
from lms.enrollment.invitations.services import invite_people
from lms.enrollment.links.models import InviteLink
from lms.enrollment.links.services import create_link, revoke_link
from lms.enrollment.rosters.jobs import preview_import
from lms.enrollment.rosters.models import ImportJob, ImportJobStatus
from lms.extensions import db
from lms.notifications.models import OutboxEmail, OutboxStatus
from lms.notifications.outbox import queue_email
from lms.programs.cascade import add_learner, assign_group
from lms.programs.models import (
    Enrollment,
    EnrollmentGroup,
    EnrollmentStatus,
    Program,
    ProgramSession,
    SessionGroup,
    SessionTrainer,
)
from lms.programs.services import create_program, create_session
from lms.scim.models import ScimToken
from lms.scim.tokens import create_token
from lms.tokens import token_from_nonce
from tests.conftest import htmx_headers, login


class World(NamedTuple):
    target: int
    dormant: int
    outsider: int
    group: int
    public_id: str
    invitation: int  # a pending invitation of invitee@example.com into the group
    invitation_hash: str
    token: str  # the invitation's working token
    email: int  # a failed outbox email to target@example.com
    owner: int  # a manager who owns the program "Secret Program"
    trainer: int  # a manager who trains its session "Hidden Run" (and owns nothing)
    program: int
    session: int  # upcoming; group "Hidden Squad" (cadet) assigned, pupil added directly
    squad: int
    cadet: int
    pupil: int
    draft: int  # a previewed roster: importee@example.com to create, a row with a bad email
    link: int  # a live invite link to the session "Hidden Run"
    revoked_link: int  # an invite link to the group "Secret Cohort", switched off
    scim_token: int  # the SCIM token "Secret Provider"


# What a learner or a manager must never see of the world.
PRIVATE = [
    "target@example.com", "Zelda", "Targetson", "Confidential",
    "dormant@example.com", "outsider@example.com", "Otto", "Secret Cohort",
    "invitee@example.com", "Mailbox unavailable",
    "Secret Program", "Hidden Run", "Hidden Squad", "cadet@example.com", "pupil@example.com",
    "importee@example.com", "Secret Provider",
]


@pytest.fixture
def world(make_user, make_group):
    target = make_user("target@example.com", first_name="Zelda", last_name="Targetson",
                       labels=["Confidential"])
    dormant = make_user("dormant@example.com", first_name="Dora", last_name="Dormant",
                        status=UserStatus.deactivated)
    outsider = make_user("outsider@example.com", first_name="Otto", last_name="Outsider")
    group = make_group("Secret Cohort", members=[target])
    now = datetime.now(timezone.utc)
    (invitation,) = invite_people(["invitee@example.com"], actor=None, now=now, group_ids=[group.id]).invitations
    queue_email(now=now, recipient="target@example.com", user_id=target.id, kind="added_to_groups",
                language="en", context={"group_names": ["Secret Cohort"]}, dedupe_key="world:failed")
    email = db.session.scalar(sa.select(OutboxEmail).filter_by(dedupe_key="world:failed"))
    email.status, email.attempts, email.last_error = OutboxStatus.failed, 4, "550 5.1.1 Mailbox unavailable"
    db.session.commit()
    owner = make_user("olive@example.com", role=Role.manager, first_name="Olive", last_name="Owner")
    trainer = make_user("coach@example.com", role=Role.manager, first_name="Carl", last_name="Coach")
    cadet = make_user("cadet@example.com", first_name="Cady", last_name="Cadet")
    pupil = make_user("pupil@example.com", first_name="Pia", last_name="Pupil")
    squad = make_group("Hidden Squad", members=[cadet])
    program = create_program("Secret Program", owner=owner, now=now)
    session = create_session(program, name="Hidden Run", starts_at=now + timedelta(days=10),
                             ends_at=now + timedelta(days=11), trainers=[trainer], actor=owner, now=now)
    assign_group(session, squad, actor=trainer, now=now)
    add_learner(session, pupil, actor=trainer, now=now)
    draft = preview_import(b"Importee, Ivan, importee@example.com\nBroken, Bea, not-an-email", source="paste",
                           kind="paste", actor=None, now=now)
    link = create_link(actor=None, now=now, target="session", session=session)
    revoked_link = create_link(actor=None, now=now, target="group", group=group)
    revoke_link(revoked_link, actor=None, now=now)
    scim_token, _ = create_token("Secret Provider", actor=None, now=now)
    db.session.commit()
    return World(target.id, dormant.id, outsider.id, group.id, group.public_id,
                 invitation.id, invitation.token_hash, token_from_nonce(invitation.token_nonce), email.id,
                 owner.id, trainer.id, program.id, session.id, squad.id, cadet.id, pupil.id, draft.id,
                 link.id, revoked_link.id, scim_token.id)


def _user(user_id):
    return db.session.get(User, user_id)


def _is_member(group_id, user_id):
    return db.session.get(GroupMembership, (group_id, user_id)) is not None


def _invitation(invitation_id):
    return db.session.get(Invitation, invitation_id)


def _resent(w):
    return _invitation(w.invitation).token_hash != w.invitation_hash


def _cancelled(w):
    return _invitation(w.invitation).status == InvitationStatus.cancelled


def _invited(email):
    user = db.session.scalar(sa.select(User).filter_by(email=email))
    return user is not None and db.session.scalar(sa.select(Invitation).filter_by(user_id=user.id)) is not None


def _program(program_id):
    return db.session.get(Program, program_id)


def _session(session_id):
    return db.session.get(ProgramSession, session_id)


def _enrollment(w, user_id):
    return db.session.scalar(sa.select(Enrollment).filter_by(session_id=w.session, user_id=user_id))


def _group_assigned(w, group_id):
    return db.session.get(SessionGroup, (w.session, group_id)) is not None


def _program_titled(title, owner_email=None):
    program = db.session.scalar(sa.select(Program).filter_by(title=title))
    return program is not None and (owner_email is None or program.owner.email == owner_email)


def _created(email):
    user = db.session.scalar(sa.select(User).filter_by(email=email))
    return user is not None and user.status == UserStatus.active


class Route(NamedTuple):
    method: str
    path: str
    data: dict | None = None
    target: str | None = None  # the HX-Target of an htmx request, None for a plain one
    admin_status: int = 200
    admin_sees: str | bytes | None = None  # what the admin's response contains ({world} fields allowed)
    done: Callable[[World], bool] | None = None  # POST: the change an admin's request makes
    manager_status: int = 403  # a manager who trains no session of the world
    # What that manager's request makes of their own (then the world may change by it alone).
    manager_done: Callable[[World], bool] | None = None


INVITE = {"emails": "newcomer@example.com", "role": "learner", "language": "en", "groups": "{group}",
          "message": "", "send_email": "y"}
ACCOUNT = {"email": "created@example.com", "first_name": "Cara", "last_name": "Created",
           "password": "chosen-by-admin", "role": "learner", "language": "en", "groups": "{group}"}

EDIT = {
    "first_name": "Changed", "last_name": "Targetson", "language": "en", "role": "learner",
    "labels": "Confidential", "additional_info": "", "deactivate_on": "", "groups": "{group}",
}

PROGRAM = {"title": "Brand New Program", "description": ""}
NEW_SESSION = {"form": "session", "name": "Extra Run", "starts_at": "2031-01-10T09:00",
               "ends_at": "2031-01-10T17:00", "trainers": "{trainer}"}
SESSION_EDIT = {"name": "Renamed Run", "starts_at": "2031-01-10T09:00", "ends_at": "2031-01-10T17:00",
                "trainers": "{trainer}"}
ADD_EMAILS = {"emails-emails": "newbie@example.com", "emails-send_email": "y"}

ROSTER = {"roster": "Rosterson, Rita, roster@example.com", "mode": "create", "language": "en", "role": "learner",
          "send_email": "y"}


LINK = {"target": "session", "group_id": "", "session_id": "{session}", "role": "learner", "max_uses": "",
        "expires_on": "", "allowed_domain": "", "deactivate_on": ""}
LINK_TERMS = {"max_uses": "7", "expires_on": "", "allowed_domain": ""}


def _invite_link(link_id):
    return db.session.get(InviteLink, link_id)


def _link_shared():
    """A link made through the form (the world's were made by no one)."""
    return db.session.scalar(sa.select(InviteLink).where(InviteLink.created_by_id.is_not(None))) is not None


def _import_status(job_id):
    job = db.session.get(ImportJob, job_id)
    return job.status if job else None


def _previews():
    return db.session.scalar(sa.select(sa.func.count()).select_from(ImportJob))


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
    # Inviting (admins and managers; a manager only into the groups of sessions they train).
    "invite page": Route("GET", "/admin/invite", admin_sees="Secret Cohort", manager_status=200),
    "invite": Route("POST", "/admin/invite", INVITE, done=lambda w: _invited("newcomer@example.com"),
                    manager_status=422),
    "invite (htmx)": Route("POST", "/admin/invite", INVITE, target="invite-panel",
                           done=lambda w: _invited("newcomer@example.com"), manager_status=422),
    "invite check (htmx)": Route("POST", "/admin/invite/check", {"emails": "a@example.com, nope"},
                                 target="email-check", admin_sees="1 valid address", manager_status=200),
    "invite preview (htmx)": Route("POST", "/admin/invite/preview", INVITE, target="invite-preview",
                                   admin_sees="Secret Cohort", manager_status=200),
    "set an account page": Route("GET", "/admin/accounts/new", admin_sees="Secret Cohort"),
    "set an account": Route("POST", "/admin/accounts/new", ACCOUNT, admin_status=303,
                            done=lambda w: _created("created@example.com")),
    "set an account (htmx)": Route("POST", "/admin/accounts/new", ACCOUNT, target="account-panel",
                                   admin_status=204, done=lambda w: _created("created@example.com")),
    "invitation list": Route("GET", "/admin/invitations", admin_sees="invitee@example.com",
                             manager_status=200),
    "invitation list (htmx)": Route("GET", "/admin/invitations?q=invitee&status=pending",
                                    target="invitation-table", admin_sees="invitee@example.com",
                                    manager_status=200),
    "invitation resend": Route("POST", "/admin/invitations/{invitation}/resend", admin_status=303,
                               done=_resent),
    "invitation resend (htmx)": Route("POST", "/admin/invitations/{invitation}/resend",
                                      target="invitation-{invitation}", done=_resent),
    "invitation cancel": Route("POST", "/admin/invitations/{invitation}/cancel", admin_status=303,
                               done=_cancelled),
    "invitation cancel (htmx)": Route("POST", "/admin/invitations/{invitation}/cancel",
                                      target="invitation-{invitation}", done=_cancelled),
    "invitation link": Route("GET", "/admin/invitations/{invitation}/link", admin_sees="{token}"),
    "invitation link (htmx)": Route("GET", "/admin/invitations/{invitation}/link",
                                    target="link-{invitation}", admin_sees="{token}"),
    "invitations bulk resend": Route("POST", "/admin/invitations/bulk",
                                     {"action": "resend", "ids": "{invitation}"}, admin_status=303,
                                     done=_resent),
    "invitations bulk cancel": Route("POST", "/admin/invitations/bulk",
                                     {"action": "cancel", "ids": "{invitation}"}, admin_status=303,
                                     done=_cancelled),
    # The outbox (admins only).
    # Rosters (admins only).
    "import page": Route("GET", "/admin/imports/new", admin_sees="Secret Cohort"),
    "import preview": Route("POST", "/admin/imports/new", ROSTER, admin_status=303, done=lambda w: _previews() == 2),
    "import preview (htmx)": Route("POST", "/admin/imports/new", ROSTER, target="import-form", admin_status=204,
                                   done=lambda w: _previews() == 2),
    "import draft": Route("GET", "/admin/imports/{draft}", admin_sees="importee@example.com"),
    "import draft rows (htmx)": Route("GET", "/admin/imports/{draft}?show=create&page=1", target="preview-table",
                                      admin_sees="importee@example.com"),
    "import start": Route("POST", "/admin/imports/{draft}/start", admin_status=303,
                          done=lambda w: _import_status(w.draft) == ImportJobStatus.queued),
    "import start (htmx)": Route("POST", "/admin/imports/{draft}/start", target="import-start", admin_status=204,
                                 done=lambda w: _import_status(w.draft) == ImportJobStatus.queued),
    "import discard": Route("POST", "/admin/imports/{draft}/discard", admin_status=303,
                            done=lambda w: _import_status(w.draft) is None),
    "import rejected rows": Route("GET", "/admin/imports/{draft}/rejected.csv", admin_sees="not-an-email"),
    "import list": Route("GET", "/admin/imports", admin_sees="Past imports"),
    "import template": Route("GET", "/admin/imports/template.xlsx", admin_sees=b"PK\x03\x04"),
    "group ids csv": Route("GET", "/admin/imports/group-ids.csv", admin_sees="Secret Cohort"),
    "outbox": Route("GET", "/admin/outbox", admin_sees="target@example.com"),
    "outbox (htmx)": Route("GET", "/admin/outbox?status=failed", target="outbox-table",
                           admin_sees="target@example.com"),
    "outbox email": Route("GET", "/admin/outbox/{email}", admin_sees="Mailbox unavailable"),
    "outbox retry": Route("POST", "/admin/outbox/{email}/retry", admin_status=303,
                          done=lambda w: db.session.get(OutboxEmail, w.email).status == OutboxStatus.queued),
    # Programs and sessions (admins; managers for the programs they own or train a session of).
    "program list": Route("GET", "/programs", admin_sees="Secret Program", manager_status=200),
    "program create": Route("POST", "/programs", PROGRAM, admin_status=303,
                            done=lambda w: _program_titled("Brand New Program"), manager_status=303,
                            manager_done=lambda w: _program_titled("Brand New Program", "manager@example.com")),
    "program page": Route("GET", "/programs/{program}", admin_sees="Hidden Run"),
    "program edit": Route("POST", "/programs/{program}", {"title": "Renamed Program", "description": ""},
                          admin_status=303, done=lambda w: _program(w.program).title == "Renamed Program"),
    "session add": Route("POST", "/programs/{program}", NEW_SESSION, admin_status=303,
                         done=lambda w: db.session.scalar(sa.select(ProgramSession).filter_by(name="Extra Run"))
                         is not None),
    "program archive": Route("POST", "/programs/{program}/archive", admin_status=303,
                             done=lambda w: _program(w.program).archived_at is not None),
    "session page": Route("GET", "/sessions/{session}", admin_sees="pupil@example.com"),
    "session page (htmx)": Route("GET", "/sessions/{session}?status=invited", target="registration",
                                 admin_sees="cadet@example.com"),
    "session edit": Route("POST", "/sessions/{session}", SESSION_EDIT, admin_status=303,
                          done=lambda w: _session(w.session).name == "Renamed Run"),
    "session add group": Route("POST", "/sessions/{session}/groups", {"group-group_id": "{group}"},
                               admin_status=303, done=lambda w: _group_assigned(w, w.group)),
    "session add group (htmx)": Route("POST", "/sessions/{session}/groups", {"group-group_id": "{group}"},
                                      target="registration", admin_sees="target@example.com",
                                      done=lambda w: _group_assigned(w, w.group)),
    "session remove group page": Route("GET", "/sessions/{session}/groups/{squad}/remove",
                                       admin_sees="1 pending invitation will be cancelled"),
    "session remove group (htmx confirm)": Route(
        "GET", "/sessions/{session}/groups/{squad}/remove", target="group-{squad}",
        admin_sees="1 pending invitation will be cancelled"),
    "session remove group": Route("POST", "/sessions/{session}/groups/{squad}/remove", admin_status=303,
                                  done=lambda w: not _group_assigned(w, w.squad)),
    "session remove group (htmx)": Route(
        "POST", "/sessions/{session}/groups/{squad}/remove", target="registration",
        done=lambda w: _enrollment(w, w.cadet).status == EnrollmentStatus.cancelled),
    "session learner search": Route("GET", "/sessions/{session}/learners/search?q=outsider",
                                    target="learner-candidates", admin_sees="outsider@example.com"),
    "session add learner": Route("POST", "/sessions/{session}/learners", {"user_id": "{outsider}"},
                                 admin_status=303, done=lambda w: _enrollment(w, w.outsider) is not None),
    "session add learner (htmx)": Route("POST", "/sessions/{session}/learners", {"user_id": "{outsider}"},
                                        target="registration", admin_sees="outsider@example.com",
                                        done=lambda w: _enrollment(w, w.outsider) is not None),
    "session remove learner": Route(
        "POST", "/sessions/{session}/learners/{pupil}/remove", admin_status=303,
        done=lambda w: _enrollment(w, w.pupil).status == EnrollmentStatus.cancelled),
    "session remove learner (htmx)": Route(
        "POST", "/sessions/{session}/learners/{pupil}/remove", target="registration",
        done=lambda w: _enrollment(w, w.pupil).status == EnrollmentStatus.cancelled),
    "session add emails": Route("POST", "/sessions/{session}/emails", ADD_EMAILS, admin_status=303,
                                done=lambda w: _invited("newbie@example.com")),
    "session add emails (htmx)": Route("POST", "/sessions/{session}/emails", ADD_EMAILS, target="registration",
                                       admin_sees="newbie@example.com",
                                       done=lambda w: _invited("newbie@example.com")),
    # Invite links (admins; managers their own and the learner links to what they train: a
    # manager who trains nothing gets their own empty list and a form offering nothing).
    "link list": Route("GET", "/admin/links", admin_sees="Hidden Run", manager_status=200),
    "link list (htmx)": Route("GET", "/admin/links", target="link-table", admin_sees="Hidden Run",
                              manager_status=200),
    "new link page": Route("GET", "/admin/links/new", admin_sees="Hidden Run", manager_status=200),
    "link create": Route("POST", "/admin/links/new", LINK, admin_status=303, done=lambda w: _link_shared(),
                         manager_status=422),
    "link page": Route("GET", "/admin/links/{link}", admin_sees="Hidden Run"),
    "link qr png": Route("GET", "/admin/links/{link}/qr.png", admin_sees=b"\x89PNG\r\n"),
    "link qr svg": Route("GET", "/admin/links/{link}/qr.svg", admin_sees=b"<svg"),
    "link edit page": Route("GET", "/admin/links/{link}/edit", admin_sees="Hidden Run"),
    "link edit page (htmx)": Route("GET", "/admin/links/{link}/edit", target="link-terms",
                                   admin_sees="Save the terms"),
    "link edit": Route("POST", "/admin/links/{link}/edit", LINK_TERMS, admin_status=303,
                       done=lambda w: _invite_link(w.link).max_uses == 7),
    "link edit (htmx)": Route("POST", "/admin/links/{link}/edit", LINK_TERMS, target="link-terms",
                              admin_sees="0 of 7 (7 left)", done=lambda w: _invite_link(w.link).max_uses == 7),
    "link revoke": Route("POST", "/admin/links/{link}/revoke", admin_status=303,
                         done=lambda w: _invite_link(w.link).revoked_at is not None),
    "link revoke (htmx)": Route("POST", "/admin/links/{link}/revoke", target="link-{link}",
                                admin_sees="Switch on again", done=lambda w: _invite_link(w.link).revoked_at is not None),
    "link enable": Route("POST", "/admin/links/{revoked_link}/enable", admin_status=303,
                         done=lambda w: _invite_link(w.revoked_link).revoked_at is None),
    # SCIM tokens (admins only).
    "scim tokens": Route("GET", "/admin/scim/", admin_sees="Secret Provider"),
    "scim token create": Route("POST", "/admin/scim/tokens", {"name": "New Provider"}, admin_status=201,
                               admin_sees="it is not shown again",
                               done=lambda w: db.session.scalar(sa.select(ScimToken).filter_by(name="New Provider"))
                               is not None),
    "scim token revoke": Route("POST", "/admin/scim/tokens/{scim_token}/revoke", admin_status=303,
                               done=lambda w: db.session.get(ScimToken, w.scim_token).revoked_at is not None),
}


def send(client, route, world):
    values = world._asdict()
    data = {key: value.format(**values) for key, value in (route.data or {}).items()}
    return client.open(
        route.path.format(**values),
        method=route.method,
        data=data if route.method == "POST" else None,
        headers=htmx_headers(route.target.format(**values)) if route.target else None,
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
        db.session.execute(
            sa.select(Invitation.id, Invitation.user_id, Invitation.status, Invitation.role,
                      Invitation.token_hash, Invitation.expires_at).order_by(Invitation.id)
        ).all(),
        db.session.execute(
            sa.select(OutboxEmail.id, OutboxEmail.recipient, OutboxEmail.status, OutboxEmail.attempts,
                      OutboxEmail.due_at)
            .order_by(OutboxEmail.id)
        ).all(),
        db.session.execute(
            sa.select(Program.id, Program.title, Program.description, Program.owner_id, Program.archived_at)
            .order_by(Program.id)
        ).all(),
        db.session.execute(
            sa.select(ProgramSession.id, ProgramSession.name, ProgramSession.starts_at, ProgramSession.ends_at,
                      ProgramSession.archived_at).order_by(ProgramSession.id)
        ).all(),
        db.session.execute(sa.select(SessionTrainer.session_id, SessionTrainer.user_id)
                           .order_by(SessionTrainer.session_id, SessionTrainer.user_id)).all(),
        db.session.execute(sa.select(SessionGroup.session_id, SessionGroup.group_id)
                           .order_by(SessionGroup.session_id, SessionGroup.group_id)).all(),
        db.session.execute(
            sa.select(Enrollment.id, Enrollment.session_id, Enrollment.user_id, Enrollment.status,
                      Enrollment.is_direct, Enrollment.email_due_at).order_by(Enrollment.id)
        ).all(),
        db.session.execute(sa.select(EnrollmentGroup.enrollment_id, EnrollmentGroup.group_id)
                           .order_by(EnrollmentGroup.enrollment_id, EnrollmentGroup.group_id)).all(),
        db.session.execute(sa.select(ImportJob.id, ImportJob.status).order_by(ImportJob.id)).all(),
        db.session.execute(sa.select(InviteLink.id, InviteLink.use_count, InviteLink.revoked_at, InviteLink.max_uses,
                                     InviteLink.expires_at, InviteLink.allowed_domain)
                           .order_by(InviteLink.id)).all(),
        db.session.execute(sa.select(ScimToken.id, ScimToken.name, ScimToken.revoked_at).order_by(ScimToken.id)).all(),
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
    """Learners get 403 everywhere; managers on the admin-only pages and on the world's
    invitations. Where a manager is served (their own invite form and list), they see none of
    the world and their request changes none of it."""
    role_client = request.getfixturevalue(f"{role}_client")
    expected = 403 if role == "learner" else route.manager_status
    before = snapshot()

    response = send(role_client, route, world)

    assert response.status_code == expected, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    if expected == 403:
        assert "Your account does not have access to this page." in body
    for private in PRIVATE + [world.public_id, world.token]:
        assert private not in body
    if role == "manager" and route.manager_done is not None:
        db.session.expire_all()
        assert route.manager_done(world)
    else:
        assert snapshot() == before
        if route.done is not None:
            assert not route.done(world)


@route_params
def test_admin_is_served(admin_client, world, route):
    assert_served(admin_client, route, world)


def assert_served(client, route, world):
    before = snapshot()

    response = send(client, route, world)

    assert response.status_code == route.admin_status, response.get_data(as_text=True)
    if route.admin_sees is not None:
        expected = (route.admin_sees.format(**world._asdict()).encode() if isinstance(route.admin_sees, str)
                    else route.admin_sees)
        assert expected in response.data
    if route.target is not None and route.method == "GET":
        assert b"<html" not in response.data
    if route.done is not None:
        db.session.expire_all()
        assert route.done(world)
        assert snapshot() != before
    else:
        assert snapshot() == before


PROGRAM_ROUTES = {name: route for name, route in ROUTES.items() if route.path.startswith(("/programs", "/sessions"))}


# What reaches beyond a manager's own people and the groups opened to trainers (the world's
# group and its outsider are neither): refused to the owner and the trainer alike. The program
# as a whole is its owner's. tests/test_trainer_scope.py has the whole matrix.
BEYOND_MANAGERS = {"session add group", "session add group (htmx)", "session add learner",
                   "session add learner (htmx)"}
PROGRAM_LEVEL = {"program edit", "session add", "program archive"}


@pytest.mark.parametrize("name", PROGRAM_ROUTES.keys())
@pytest.mark.parametrize("who", ["owner", "trainer"])
def test_program_owner_and_session_trainer_are_served(app, world, name, who):
    """A manager who owns the program, or trains its session, manages it as an admin does,
    within the limits every manager has; a trainer does not manage the program itself."""
    route = PROGRAM_ROUTES[name]
    client = login(app.test_client(), db.session.get(User, getattr(world, who)))
    if name in BEYOND_MANAGERS or (who == "trainer" and name in PROGRAM_LEVEL):
        before = snapshot()
        assert send(client, route, world).status_code == 403
        assert snapshot() == before
    elif name == "session learner search":  # the outsider is in none of their sessions
        body = send(client, route, world).get_data(as_text=True)
        assert "outsider@example.com" not in body and "Nobody else matches" in body
    else:
        assert_served(client, route, world)


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
