"""Every domain's email kinds, imported once by create_app so the renderer knows them all."""
import lms.accounts.emails  # noqa: F401
import lms.enrollment.invitations.emails  # noqa: F401
import lms.enrollment.links.emails  # noqa: F401
import lms.programs.emails  # noqa: F401
