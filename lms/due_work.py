"""All work that falls due with time, in one service: the scheduler, `lms run-due` and tests call it.

Each step reads due rows from the database, so work that fell due while nothing ran is done
at the next call, and a second call at the same time finds nothing left to do. Order matters:
deactivations and expiries cancel emails before the dispatcher would send them.
"""
from lms.accounts.deactivation import deactivate_due_users
from lms.enrollment.invitations.services import expire_due_invitations, send_due_reminders
from lms.enrollment.links.services import discard_stale_signups
from lms.enrollment.rosters.jobs import discard_stale_import_drafts, run_queued_import_jobs
from lms.extensions import db
from lms.notifications.dispatcher import dispatch_due_emails


def run_due(*, now) -> dict:
    counts = {
        "deactivated_users": deactivate_due_users(now=now),
        "expired_invitations": expire_due_invitations(now=now),
        "reminders_queued": send_due_reminders(now=now),
        "import_previews_discarded": discard_stale_import_drafts(now=now),
        "link_signups_discarded": discard_stale_signups(now=now),
    }
    db.session.commit()
    report = dispatch_due_emails(now=now)
    # Imports whose worker died (their own thread normally runs them at once); after the
    # emails, so a long import never holds them up.
    imports = run_queued_import_jobs(now=now)
    return {**counts, **report.as_dict(), "imports_resumed": imports}
