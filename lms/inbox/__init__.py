"""The in-app inbox: the notices other domains leave a person (R1) and the session
invitations waiting for their answer, with the count the menu's badge shows."""
