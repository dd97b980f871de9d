"""Every model, imported in one place so the metadata (Alembic, create_all) is complete."""
from lms.accounts.models import Role, User, UserLabel, UserStatus  # noqa: F401
from lms.audit.models import AuditEvent  # noqa: F401
from lms.enrollment.models import (  # noqa: F401
    Group,
    GroupMembership,
    ImportJob,
    ImportJobStatus,
    Invitation,
    InvitationStatus,
    InviteLink,
    InviteLinkTarget,
    InviteLinkUse,
    LinkSignup,
)
from lms.notifications.models import OutboxEmail, OutboxStatus, UserNotice  # noqa: F401
from lms.programs.models import (  # noqa: F401
    Enrollment,
    EnrollmentGroup,
    EnrollmentStatus,
    Program,
    ProgramSession,
    SessionGroup,
    SessionState,
    SessionTrainer,
)
