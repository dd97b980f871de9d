"""Recording audit events; callers flush and commit with the change they describe."""
from lms.audit.models import AuditEvent
from lms.extensions import db


def record_event(actor, action, target_type, target_id=None, *, now, **details):
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
        created_at=now,
    )
    db.session.add(event)
    return event


def record_events(actor, action, target_type, target_ids, *, now, details=None):
    """Many events of one kind in one statement (bulk paths: invitations, imports)."""
    from lms.db_utils import insert_rows

    rows = [
        {"actor_id": actor.id if actor is not None else None, "action": action,
         "target_type": target_type, "target_id": target_id, "details": details or {},
         "created_at": now}
        for target_id in target_ids
    ]
    insert_rows(AuditEvent, rows)
