"""Users: sign-in, home and account pages, registration through an invitation, the users admin
pages, deactivation (R6) and `lms users`."""
