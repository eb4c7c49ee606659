"""Every model, imported once so Alembic and the mappers see the whole schema."""
from webapp.accounts.models import User  # noqa: F401
from webapp.attendance.models import Attendance, AttendanceAudit  # noqa: F401
from webapp.branches.models import Branch, BranchSite, ShiftType  # noqa: F401
from webapp.events.models import OutboxEvent  # noqa: F401
from webapp.holidays.models import Holiday  # noqa: F401
from webapp.idempotency.models import IdempotencyKey  # noqa: F401
from webapp.kiosks.models import Kiosk, KioskCodeUse  # noqa: F401
from webapp.leave.models import LeaveRequest  # noqa: F401
from webapp.meta import Base  # noqa: F401
from webapp.requests.models import AttendanceRequest  # noqa: F401
from webapp.shifts.models import ShiftAssignment  # noqa: F401
