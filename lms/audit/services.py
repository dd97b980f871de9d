"""Recording audit events; callers flush and commit with the change they describe.

`user_id` names the person an event is about: given, or the `user_id` of its details, or the
target itself when the target is a user.

Changes an identity provider makes over SCIM have no person as their actor: the services they
call record their events inside `acting_through(token)`, which names the token in each one.
"""
from contextlib import contextmanager
from contextvars import ContextVar

from lms.audit.models import AuditEvent
from lms.extensions import db

# Set for the length of a SCIM request, so that every service it calls (and the services
# those call) records the token without each one taking it as an argument.
_acting_token: ContextVar[dict | None] = ContextVar("lms_acting_token", default=None)


@contextmanager
def acting_through(token):
    """Events recorded inside the block name `token` (a ScimToken) in their details."""
    reset = _acting_token.set({"id": token.id, "name": token.name})
    try:
        yield
    finally:
        _acting_token.reset(reset)


def _with_token(details):
    token = _acting_token.get()
    return {**details, "scim_token": token} if token is not None else details


def _person(target_type, target_id, user_id):
    if user_id is not None:
        return user_id
    return target_id if target_type == "user" else None


def record_event(actor, action, target_type, target_id=None, *, now, person_id=None, **details):
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        user_id=_person(target_type, target_id, person_id if person_id is not None else details.get("user_id")),
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=_with_token(details),
        created_at=now,
    )
    db.session.add(event)
    return event


def record_events(actor, action, target_type, target_ids, *, now, details=None, person_ids=None):
    """Many events of one kind in one statement (bulk paths: invitations, imports);
    `person_ids`, when given, runs beside `target_ids`."""
    from lms.db_utils import insert_rows

    target_ids = list(target_ids)
    people = list(person_ids) if person_ids is not None else [None] * len(target_ids)
    rows = [
        {"actor_id": actor.id if actor is not None else None, "action": action,
         "user_id": _person(target_type, target_id, person),
         "target_type": target_type, "target_id": target_id, "details": _with_token(details or {}),
         "created_at": now}
        for target_id, person in zip(target_ids, people, strict=True)
    ]
    insert_rows(AuditEvent, rows)
