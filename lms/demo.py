"""Demonstration data for `make run`: every role, groups, and a program with three sessions.

Made through the services the pages call, so the data is in the state they would leave it in
(an invited person has their pending invitation and its email). Idempotent: what exists
(matched by email, group name or program title) is left alone. The passwords are printed in
the README; this data is for trying the product, not production.
"""
from datetime import timedelta

from sqlalchemy import func, select

from lms.accounts.models import Role, User, UserStatus
from lms.accounts.services import create_user, find_user_by_email, update_user
from lms.enrollment.groups.models import Group
from lms.enrollment.groups.services import add_group_members, create_group, open_to_trainers
from lms.enrollment.invitations.services import invite_people
from lms.extensions import db
from lms.programs.cascade import assign_group
from lms.programs.models import Program
from lms.programs.services import create_program, create_session

ADMIN = ("admin@example.com", "admin-demo-2026", "Ada", "Admin", Role.admin)
MANAGER = ("trainer@example.com", "trainer-demo-2026", "Tom", "Trainer", Role.manager)
LEARNER_PASSWORD = "learner-demo-2026"
LEARNERS = [
    ("james.smith@example.com", "James", "Smith", "en", ["France", "North"]),
    ("marie.dubois@example.com", "Marie", "Dubois", "fr", ["France"]),
    ("pieter.jansen@example.com", "Pieter", "Jansen", "nl", ["Benelux"]),
    ("olivia.brown@example.com", "Olivia", "Brown", "en", ["North"]),
    ("lucas.martin@example.com", "Lucas", "Martin", "fr", []),
]
INVITED = ("nina.novak@example.com", "Nina", "Novak")
GROUPS = {
    "Sales North": ["james.smith@example.com", "olivia.brown@example.com"],
    "New hires 2026": ["marie.dubois@example.com", "pieter.jansen@example.com", "lucas.martin@example.com"],
}


def load_demo(*, now, only_if_empty=False) -> dict:
    if only_if_empty and db.session.scalar(select(func.count()).select_from(User)):
        return {"skipped": True, "logins": []}

    def ensure_user(email, password, first, last, role, **extra):
        user = find_user_by_email(email)
        if user is None:
            user = create_user(email, now=now, first_name=first, last_name=last, role=role,
                               status=UserStatus.active, password=password, **extra)
        return user

    admin = ensure_user(*ADMIN)
    manager = ensure_user(*MANAGER)
    # One of them leaves the company next month (R6).
    leaving = {"lucas.martin@example.com": (now + timedelta(days=30)).date()}
    learners = {
        email: ensure_user(email, LEARNER_PASSWORD, first, last, Role.learner, language=lang, labels=labels,
                           deactivate_on=leaving.get(email))
        for email, first, last, lang, labels in LEARNERS
    }

    groups = {}
    for name, emails in GROUPS.items():
        group = db.session.scalar(select(Group).where(Group.name == name))
        if group is None:
            group = create_group(name, actor=admin, now=now)
        add_group_members(group, [learners[email].id for email in emails], actor=admin, now=now)
        if name == "New hires 2026":  # the trainer may add it to their sessions (lms.programs.access)
            open_to_trainers(group, True, actor=admin, now=now)
        groups[name] = group

    # A new hire still waiting for her invitation: invited as HR invites (R8), into New hires
    # 2026, so into its sessions once they exist (R2, R3), where she is "invited" too.
    if find_user_by_email(INVITED[0]) is None:
        invite_people([INVITED[0]], actor=admin, now=now, group_ids=[groups["New hires 2026"].id])
        nina = find_user_by_email(INVITED[0])
        update_user(nina, actor=admin, now=now, first_name=INVITED[1], last_name=INVITED[2], language=nina.language,
                    role=nina.role, labels=[], additional_info="", deactivate_on=None,
                    external_id=nina.external_id)

    program = db.session.scalar(select(Program).where(Program.title == "Workplace Safety"))
    if program is None:
        program = create_program("Workplace Safety", owner=manager, now=now,
                                 description="Fire drills, first aid and ergonomics, in three sessions a year.")
        day = now.replace(hour=9, minute=0, second=0, microsecond=0)
        sessions = [
            create_session(program, name=name, starts_at=start, ends_at=start + length, trainers=[manager],
                           actor=manager, now=now)
            for name, start, length in (
                ("Spring session (past)", day - timedelta(days=60), timedelta(days=2)),
                ("Autumn session (ongoing)", day - timedelta(days=1), timedelta(days=7)),
                ("Winter session (upcoming)", day + timedelta(days=14), timedelta(days=2)),
            )
        ]
        # The new hires follow the ongoing and the upcoming sessions (R3: they are invited).
        for session in sessions[1:]:
            assign_group(session, groups["New hires 2026"], actor=manager, now=now)
    db.session.flush()
    logins = [
        {"role": "admin", "email": ADMIN[0], "password": ADMIN[1]},
        {"role": "manager", "email": MANAGER[0], "password": MANAGER[1]},
        {"role": "learner", "email": LEARNERS[0][0], "password": LEARNER_PASSWORD},
    ]
    return {"skipped": False, "logins": logins}
