"""All work that falls due with time, in one service: the scheduler, `lms run-due` and tests call it.

Each step reads due rows from the database, so work that fell due while nothing ran is done
at the next call, and a second call at the same time finds nothing left to do.
"""
from lms.accounts.services import deactivate_due_users


def run_due(*, now) -> dict:
    return {"deactivated_users": deactivate_due_users(now=now)}
