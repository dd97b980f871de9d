"""Invite links and their QR codes: shareable URLs to join the platform, a group or a session.
Services and emails; `manage` holds the staff pages, `public` the /join pages anyone with a
link opens; `qr` draws the codes; `lms links`."""
