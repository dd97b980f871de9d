"""Invitations to the platform (R1, R7-R9): inviting emails into groups, Set an account, resend,
cancel, expiry and reminders; their emails, the Add people and Invitations pages, `lms invite`.
Registering through an invitation is lms.accounts.registration."""
