"""Fixtures shared by the invite-link page tests."""
from datetime import timedelta

import pytest

from tests.pages import utcnow


@pytest.fixture
def upcoming(make_session):
    """make_session starting a week from the real today at 09:00 UTC (the pages use the real clock)."""

    def make(**fields):
        fields.setdefault("starts_at", utcnow().replace(hour=9, minute=0, second=0, microsecond=0)
                          + timedelta(days=7))
        return make_session(**fields)

    return make
