"""All work that falls due with time: the scheduler, `lms run-due` and tests call it.

Each step reads due rows from the database, so work that fell due while nothing ran is done
at the next call, and a second call at the same time finds nothing left to do. There are
three kinds of due work, which the scheduler runs as separate jobs so that a slow or hanging
SMTP server never holds up the others (R10): the state changes (deactivations and expiries
first: they cancel emails before the dispatcher would send them), the emails, and the imports
nobody is running.
"""
from lms.accounts.deactivation import deactivate_due_users
from lms.enrollment.invitations.services import expire_due_invitations, send_due_reminders
from lms.enrollment.links.services import discard_stale_signups
from lms.enrollment.rosters.jobs import discard_stale_import_drafts, run_queued_import_jobs
from lms.extensions import db
from lms.notifications.dispatcher import dispatch_due_emails
from lms.workers import with_worker


def run_due_changes(*, now, worker=None) -> dict:
    counts = {
        "deactivated_users": deactivate_due_users(now=now),
        "expired_invitations": expire_due_invitations(now=now),
        "reminders_queued": send_due_reminders(now=now),
        "import_previews_discarded": discard_stale_import_drafts(now=now),
        "link_signups_discarded": discard_stale_signups(now=now),
    }
    db.session.commit()
    return counts


def run_due_emails(*, now, worker) -> dict:
    return dispatch_due_emails(now=now, worker=worker).as_dict()


def run_due_imports(*, now, worker) -> dict:
    # Imports whose worker died, or queued while no page thread ran them.
    return {"imports_resumed": run_queued_import_jobs(now=now, worker=worker)}


DUE_WORK = {"changes": run_due_changes, "emails": run_due_emails, "imports": run_due_imports}


@with_worker
def run_due(*, now, worker) -> dict:
    """Every kind of due work, one after the other (`lms run-due`)."""
    counts = {}
    for work in DUE_WORK.values():
        counts.update(work(now=now, worker=worker))
    return counts
