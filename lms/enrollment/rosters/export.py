"""Exporting users as JSON, CSV or XLSX (DESIGN §5), safe to open in a spreadsheet."""
import csv
import io

from openpyxl import Workbook
from sqlalchemy import select

from lms.accounts.models import User, UserLabel
from lms.db_utils import chunked
from lms.enrollment.groups.services import group_names_by_user, member_query
from lms.enrollment.rosters.parser import FORMULA_STARTS
from lms.extensions import db

COLUMNS = [
    "email",
    "first_name",
    "last_name",
    "language",
    "role",
    "status",
    "labels",
    "groups",
    "additional_info",
    "deactivate_on",
    "external_id",  # the roster's column of that name: an export imports back (--mode update) keyed on it
]
FORMATS = ("csv", "xlsx", "json")
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (the
# roster parser drops the ' that neutralises them, so an exported cell imports back as it was).
FORMULA_TRIGGERS = FORMULA_STARTS + ("\t", "\r")


def export_users(group=None) -> list[dict]:
    """Every user (or a group's members) as plain values; a few queries whatever the count."""
    query = member_query(group) if group is not None else select(User).order_by(User.email)
    users = db.session.scalars(query).all()
    ids = [user.id for user in users]
    labels: dict[int, list[str]] = {}
    for batch in chunked(ids):
        for user_id, label in db.session.execute(
            select(UserLabel.user_id, UserLabel.label)
            .where(UserLabel.user_id.in_(batch))
            .order_by(UserLabel.label)
        ):
            labels.setdefault(user_id, []).append(label)
    groups = group_names_by_user(ids)
    return [
        {
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "language": user.language,
            "role": user.role.value,
            "status": user.status.value,
            "labels": labels.get(user.id, []),
            "groups": groups.get(user.id, []),
            "additional_info": user.additional_info,
            "deactivate_on": user.deactivate_on.isoformat() if user.deactivate_on else None,
            "external_id": user.external_id,
        }
        for user in users
    ]


def neutralise(value: str) -> str:
    """Prefix a would-be formula with a quote so a spreadsheet shows it as text (OWASP CSV injection).
    A value already written so ('=1) gets another quote, as the roster parser expects: it drops
    one, so the cell imports back as it was."""
    if value and (value.startswith(FORMULA_TRIGGERS) or (value[0] == "'" and value[1:].startswith(FORMULA_STARTS))):
        return "'" + value
    return value


def _flat_row(user: dict) -> list[str]:
    cells = []
    for column in COLUMNS:
        value = user[column]
        if isinstance(value, list):
            value = " | ".join(value)
        cells.append(neutralise(value or ""))
    return cells


def to_csv(users: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(_flat_row(user) for user in users)
    return out.getvalue()


def to_xlsx(users: list[dict]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Users")
    sheet.append(COLUMNS)
    for user in users:
        sheet.append(_flat_row(user))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
