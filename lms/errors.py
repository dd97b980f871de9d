"""Domain errors: services raise them, views turn them into form errors or messages."""


class DomainError(Exception):
    """Something the user asked for that the rules refuse; `field` names the form field if any."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    pass


class AlreadyTaken(DomainError):
    """A value that must be unique (an email, an external id, a group name) is someone else's."""
