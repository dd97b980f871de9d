"""SCIM filters (RFC 7644 §3.4.2.2) as SQL: scim2-models parses and checks a filter against the
published schema; this walks its tree into a WHERE clause, so that a search pages in the
database whatever the number of people (an identity provider pages through all of them).

Each attribute a filter may name maps to a column (or, for `userName` and a group's `members`,
an expression). Text attributes compare ignoring case unless SCIM says they are case-exact
(`externalId`, `id`); `userName`, emails and group names are stored folded, so `eq` on them is
an index look-up, in any case the provider writes them.
"""
from datetime import datetime, timezone

from scim2_models import InvalidFilterException
from scim2_models.path import (
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import and_, exists, false, func, not_, or_, true

from lms.accounts.models import User, UserStatus
from lms.db_utils import as_id
from lms.enrollment.groups.models import Group, GroupMembership
from lms.enrollment.groups.services import name_key
from lms.scim.resources import ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA

MAX_VALUE_LENGTH = 1000  # what a comparison may hold: every attribute is shorter; SQLite's LIKE refuses 50,000


class _Text:
    """A text column; `folded` when it is stored lower-cased (compare the value folded too, and
    the index serves `eq`), `case_exact` when SCIM compares it exactly."""

    def __init__(self, column, *, folded=False, case_exact=False, fold=str.lower):
        self.column, self.folded, self.case_exact, self.fold = column, folded, case_exact, fold

    def compare(self, op, value):
        if not isinstance(value, str):
            value = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        column = self.column
        if self.folded:
            value = self.fold(value)
        elif not self.case_exact:
            column, value = func.lower(column), value.lower()
        return _compare(column, op, value)

    def present(self):
        return and_(self.column.is_not(None), self.column != "")


class _UserName:
    """userName: the name the identity provider gave, else the email (both stored lower-cased)."""

    def compare(self, op, value):
        value = str(value).lower()
        if op == CompareOperator.eq:  # both unique indexes serve it
            return or_(User.scim_user_name == value, and_(User.scim_user_name.is_(None), User.email == value))
        return _compare(func.coalesce(User.scim_user_name, User.email), op, value)

    def present(self):
        return true()


class _Id:
    def __init__(self, column):
        self.column = column

    def compare(self, op, value):
        number = as_id(value) if isinstance(value, str) else None
        if number is None:
            return true() if op == CompareOperator.ne else false()
        return _compare(self.column, op, number)

    def present(self):
        return true()


class _Active:
    def compare(self, op, value):
        if op not in (CompareOperator.eq, CompareOperator.ne) or not isinstance(value, bool):
            raise InvalidFilterException(detail="active compares with eq or ne and true or false.")
        active = User.status != UserStatus.deactivated
        return active if value == (op == CompareOperator.eq) else not_(active)

    def present(self):
        return true()


class _Time:
    def __init__(self, column):
        self.column = column

    def compare(self, op, value):
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise InvalidFilterException(detail=f"{value!r} is not a date and time (such as "
                                                "2026-01-31T09:00:00Z).") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return _compare(self.column, op, moment)

    def present(self):
        return self.column.is_not(None)


class _Constant:
    """A sub-attribute whose value is the same for every row (the one email is the primary,
    work address)."""

    def __init__(self, value):
        self.value = value

    def compare(self, op, value):
        if op == CompareOperator.eq:
            return true() if _same(self.value, value) else false()
        if op == CompareOperator.ne:
            return false() if _same(self.value, value) else true()
        return false()

    def present(self):
        return true()


def _same(ours, theirs):
    if isinstance(ours, str) and isinstance(theirs, str):
        return ours.lower() == theirs.lower()
    return ours == theirs


class _Members:
    def compare(self, op, value):
        if op not in (CompareOperator.eq, CompareOperator.ne):
            raise InvalidFilterException(detail="members compares with eq or ne (members eq \"id\").")
        number = as_id(value) if isinstance(value, str) else None
        if number is None:
            has = false()
        else:
            has = exists().where(GroupMembership.group_id == Group.id, GroupMembership.user_id == number)
        return has if op == CompareOperator.eq else not_(has)

    def present(self):
        return exists().where(GroupMembership.group_id == Group.id)


def _compare(column, op, value):
    if op == CompareOperator.eq:
        return column == value
    if op == CompareOperator.ne:
        return or_(column != value, column.is_(None))
    if op == CompareOperator.co:
        return column.contains(value, autoescape=True)
    if op == CompareOperator.sw:
        return column.startswith(value, autoescape=True)
    if op == CompareOperator.ew:
        return column.endswith(value, autoescape=True)
    return {CompareOperator.gt: column > value, CompareOperator.ge: column >= value,
            CompareOperator.lt: column < value, CompareOperator.le: column <= value}[op]


_email = _Text(User.email, folded=True)
USER_ATTRIBUTES = {
    ("id", None): _Id(User.id),
    ("externalid", None): _Text(User.external_id, case_exact=True),
    ("username", None): _UserName(),
    ("name", "givenname"): _Text(User.first_name),
    ("name", "familyname"): _Text(User.last_name),
    ("emails", None): _email,
    ("emails", "value"): _email,
    ("emails", "type"): _Constant("work"),
    ("emails", "primary"): _Constant(True),
    ("preferredlanguage", None): _Text(User.language),
    ("active", None): _Active(),
    ("meta", "created"): _Time(User.created_at),
    ("meta", "lastmodified"): _Time(User.updated_at),
}
GROUP_ATTRIBUTES = {
    ("id", None): _Id(Group.id),
    ("externalid", None): _Text(Group.external_id, case_exact=True),
    ("displayname", None): _Text(Group.name_key, folded=True, fold=lambda name: name_key(" ".join(name.split()))),
    ("members", None): _Members(),
    ("members", "value"): _Members(),
    ("meta", "created"): _Time(Group.created_at),
    ("meta", "lastmodified"): _Time(func.coalesce(Group.updated_at, Group.created_at)),
}


class _SqlFilter(FilterVisitor):
    def __init__(self, attributes, schemas):
        self.attributes = attributes
        self.schemas = {schema.lower() for schema in schemas}
        self.within = None  # the multi-valued attribute of a value path (emails[...])

    def _attribute(self, attr_path):
        if attr_path.uri is not None and attr_path.uri.lower() not in self.schemas:
            return None
        if self.within is not None:
            key = (self.within, attr_path.attr.lower())
        else:
            key = (attr_path.attr.lower(), attr_path.sub_attr.lower() if attr_path.sub_attr else None)
        return self.attributes.get(key)

    def visit_comparison(self, node: Comparison):
        if isinstance(node.value, str) and len(node.value) > MAX_VALUE_LENGTH:
            raise InvalidFilterException(detail=f"A filter compares with values of at most {MAX_VALUE_LENGTH} "
                                                "characters (no attribute here holds more).")
        attribute = self._attribute(node.attr_path)
        if attribute is None:  # an attribute these resources do not hold matches none (§3.4.2.1)
            return true() if node.op == CompareOperator.ne else false()
        return attribute.compare(node.op, node.value)

    def visit_present(self, node: Present):
        attribute = self._attribute(node.attr_path)
        return attribute.present() if attribute is not None else false()

    def visit_not(self, node: Not):
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr):
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath):
        if self.within is not None:
            raise InvalidFilterException(detail="A value path cannot hold another one.")
        self.within = node.attr_path.attr.lower()
        try:
            return self.visit(node.val_filter)
        finally:
            self.within = None


def user_clause(scim_filter):
    """The WHERE clause of a Users filter (parsed by scim2-models)."""
    return _SqlFilter(USER_ATTRIBUTES, [USER_SCHEMA, ENTERPRISE_USER_SCHEMA]).visit(scim_filter.ast)


def group_clause(scim_filter):
    return _SqlFilter(GROUP_ATTRIBUTES, [GROUP_SCHEMA]).visit(scim_filter.ast)
