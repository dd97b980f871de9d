"""The audit trail: who did what to whom, and when. Below the domains, which record into it."""
