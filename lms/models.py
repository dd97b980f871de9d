"""Every model, imported in one place so the metadata (Alembic, create_all) is complete."""
from lms.accounts.models import PasswordReset, Role, User, UserLabel, UserStatus  # noqa: F401
from lms.audit.models import AuditEvent  # noqa: F401
from lms.enrollment.groups.models import Group, GroupMembership  # noqa: F401
from lms.enrollment.invitations.models import Invitation, InvitationStatus  # noqa: F401
from lms.enrollment.links.models import InviteLink, InviteLinkTarget, InviteLinkUse, LinkSignup  # noqa: F401
from lms.enrollment.rosters.models import ImportJob, ImportJobRow, ImportJobStatus, RosterMapping  # noqa: F401
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
from lms.scim.models import ScimToken  # noqa: F401
from lms.workers import WorkerHeartbeat  # noqa: F401
