"""Demonstration data for `make run`: every role, groups, and a program with three sessions.

Idempotent: what exists (matched by email, group name or program title) is left alone.
The passwords are printed in the README; this data is for trying the product, not production.
"""
from datetime import timedelta

from sqlalchemy import func, select

from lms.accounts.models import Role, User, UserStatus
from lms.accounts.services import create_user, find_user_by_email
from lms.enrollment.groups.models import Group
from lms.enrollment.groups.services import add_group_members, create_group, open_to_trainers
from lms.extensions import db
from lms.programs.cascade import assign_group
from lms.programs.models import Program, ProgramSession

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
    learners = {
        email: ensure_user(email, LEARNER_PASSWORD, first, last, Role.learner, language=lang, labels=labels)
        for email, first, last, lang, labels in LEARNERS
    }
    # One account still waiting for its invitation, one leaving the company next month.
    if find_user_by_email("nina.novak@example.com") is None:
        create_user("nina.novak@example.com", now=now, first_name="Nina", last_name="Novak")
    learners["lucas.martin@example.com"].deactivate_on = (now + timedelta(days=30)).date()

    for name, emails in GROUPS.items():
        group = db.session.scalar(select(Group).where(Group.name == name))
        if group is None:
            group = create_group(name, actor=admin, now=now)
        add_group_members(group, [learners[email].id for email in emails], actor=admin, now=now)
        if name == "New hires 2026":  # the trainer may add it to their sessions (lms.programs.access)
            open_to_trainers(group, True, actor=admin, now=now)

    program = db.session.scalar(select(Program).where(Program.title == "Workplace Safety"))
    if program is None:
        program = Program(
            title="Workplace Safety",
            description="Fire drills, first aid and ergonomics, in three sessions a year.",
            owner_id=manager.id,
            created_at=now,
        )
        db.session.add(program)
        day = now.replace(hour=9, minute=0, second=0, microsecond=0)
        sessions = []
        for name, start, length in (
            ("Spring session (past)", day - timedelta(days=60), timedelta(days=2)),
            ("Autumn session (ongoing)", day - timedelta(days=1), timedelta(days=7)),
            ("Winter session (upcoming)", day + timedelta(days=14), timedelta(days=2)),
        ):
            session = ProgramSession(program=program, name=name, starts_at=start,
                                     ends_at=start + length, created_at=now)
            session.trainers.append(manager)
            db.session.add(session)
            sessions.append(session)
        db.session.flush()
        # The new hires follow the ongoing and the upcoming sessions (R3: they are invited).
        new_hires = db.session.scalar(select(Group).where(Group.name == "New hires 2026"))
        for session in sessions[1:]:
            assign_group(session, new_hires, actor=manager, now=now)
    db.session.flush()
    logins = [
        {"role": "admin", "email": ADMIN[0], "password": ADMIN[1]},
        {"role": "manager", "email": MANAGER[0], "password": MANAGER[1]},
        {"role": "learner", "email": LEARNERS[0][0], "password": LEARNER_PASSWORD},
    ]
    return {"skipped": False, "logins": logins}
