"""The audit trail: who did what to whom, and when. Its models and recording (services) sit below
the domains, which record into it; reading it (log) and its pages (views) sit above them."""
