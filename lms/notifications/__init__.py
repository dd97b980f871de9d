"""The outbox (R10): emails queued as rows, rendered in the recipient's language and sent over
SMTP with retries, the in-app notices, and the Outbox admin pages. Below the domains: their
email kinds register with the renderer when the app starts (lms.emails)."""
