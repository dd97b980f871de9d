"""scim2-server's protocol steps, where the platform answers otherwise than its defaults."""
import json
from typing import cast

from scim2_models import Context, PatchOperation
from scim2_models.path import CompareOperator, Comparison, LogicalExpr, LogicalOperator
from scim2_server.handler import ScimHandler
from scim2_server.routing import Operation
from scim2_server.service import ScimService

# What identity providers write that the platform keeps otherwise. A person has one email
# (lms.scim.resources.Email): of several, the primary one, else the work one, is theirs; its
# type and primary flag are not kept, so Entra's `emails[type eq "work"].value` is the email and
# adding an email replaces it. A member's name is the platform's (Okta names each member it adds).


def _email_order(entry):
    if not isinstance(entry, dict):
        return (True, True)
    fields = {key.lower(): value for key, value in entry.items()}
    return (fields.get("primary") not in (True, "true", "True"), str(fields.get("type") or "").lower() != "work")


def _emails(value):
    entries = sorted(value if isinstance(value, list) else [value], key=_email_order)
    return [{"value": next((item for key, item in entry.items() if key.lower() == "value"), None)}
            if isinstance(entry, dict) else entry for entry in entries]


def _members(value):
    entries = value if isinstance(value, list) else [value]
    return [{key: item for key, item in entry.items() if key.lower() != "display"} if isinstance(entry, dict)
            else entry for entry in entries]


def _key(mapping, name):
    return next((key for key in mapping if isinstance(key, str) and key.lower() == name), None)


def as_the_platform_keeps(resource):
    """A User or Group body (POST, PUT) with its emails in the platform's order and shape."""
    if isinstance(resource, dict):
        for name, shape in (("emails", _emails), ("members", _members)):
            key = _key(resource, name)
            if key is not None and isinstance(resource[key], (list, dict)):
                resource[key] = shape(resource[key])
    return resource


def patch_as_the_platform_keeps(patch):
    """A PATCH body whose email and member operations say what the platform keeps."""
    key = _key(patch, "operations") if isinstance(patch, dict) else None
    if key is None or not isinstance(patch[key], list):
        return patch
    operations = []
    for operation in patch[key]:
        if not isinstance(operation, dict):
            operations.append(operation)
            continue
        path_key, value_key, op_key = _key(operation, "path"), _key(operation, "value"), _key(operation, "op")
        path = str(operation.get(path_key) or "") if path_key else ""
        value = operation.get(value_key) if value_key else None
        head = path.split("[", 1)[0].split(".", 1)[0].lower()
        if head == "emails" and op_key and str(operation[op_key]).lower() in ("add", "replace"):
            email = value if path.lower().endswith(".value") else (_emails(value)[0]["value"] if value else None)
            operations.append({"op": "replace", "path": "emails", "value": [{"value": email}]})
        elif head == "members" and isinstance(value, (list, dict)):
            operations.append({**operation, value_key: _members(value)})
        elif not path and isinstance(value, dict):
            operations.append({**operation, value_key: as_the_platform_keeps(dict(value))})
        else:
            operations.append(operation)
    return {**patch, key: operations}


def _rewritten(body, rewrite):
    try:
        return json.dumps(rewrite(json.loads(body))).encode()
    except ValueError:
        return body  # scim2-server's error names what is wrong with it


class PlatformScimService(ScimService):
    def read_creation(self, resource_type, body, content_type):
        return super().read_creation(resource_type, _rewritten(body, as_the_platform_keeps), content_type)

    def read_replacement(self, resource_type, body, content_type):
        return super().read_replacement(resource_type, _rewritten(body, as_the_platform_keeps), content_type)

    def read_patch(self, resource_type, body, content_type):
        return super().read_patch(resource_type, _rewritten(body, patch_as_the_platform_keeps), content_type)

    def patch_response(self, base_url, resource, response_parameters):
        """A PATCH of a user answers 200 with the user (Okta reads it back; RFC 7644 §3.5.2
        allows it); a PATCH of a group answers 204, not its thousands of members."""
        if resource.meta is not None and resource.meta.resource_type == "User":
            return self.resource_response(self.publish(base_url, resource), Context.RESOURCE_REPLACEMENT_RESPONSE,
                                          response_parameters)
        return super().patch_response(base_url, resource, response_parameters)


def _member_value(item):
    value = item.get("value") if isinstance(item, dict) else getattr(item, "value", None)
    return str(value) if value is not None else None


def _filtered_values(node):
    """The ids of `members[value eq "1" or value eq "2"]`, or None for any other filter."""
    if isinstance(node, Comparison) and node.attr_path.attr.lower() == "value" and node.attr_path.sub_attr is None \
            and node.op == CompareOperator.eq and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.or_:
        values = [_filtered_values(term) for term in node.terms]
        return None if None in values else [value for part in values for value in part]
    return None


def member_changes(patch_op) -> dict[str, bool] | None:
    """{member id: whether they end up in the group} when every operation of a Group PATCH adds
    or removes named members (what Entra ID and Okta send); None for anything else (a rename,
    replacing or removing all members), which takes scim2-server's way: the whole group read,
    patched and written back."""
    changes: dict[str, bool] = {}
    for operation in patch_op.operations or []:
        path = operation.path
        if path is None or path.attr.lower() != "members" or len(path.parts) != 1:
            return None
        value_filter = path.value_filter
        if operation.op == PatchOperation.Op.add and value_filter is None:
            values = [_member_value(item) for item in operation.value or []]
            wanted = True
        elif operation.op == PatchOperation.Op.remove and value_filter is None and operation.value:
            values = [_member_value(item) for item in (operation.value if isinstance(operation.value, list)
                                                        else [operation.value])]
            wanted = False
        elif operation.op == PatchOperation.Op.remove and value_filter is not None:
            values, wanted = _filtered_values(value_filter), False
        else:
            return None
        if values is None or None in values:
            return None
        changes.update(dict.fromkeys(values, wanted))
    return changes


class PlatformScimHandler(ScimHandler):
    """A PATCH that adds or removes members of a group is applied as set operations on the
    memberships: it costs the same for a group of 50 as of 50,000, where reading the group,
    patching it and writing it back would cost its size on every change (lms.scim.storage)."""

    def patch(self, request):
        with self.service.provider:
            target = self.service.route(request, Operation.patch)
            resource_type = self.service.resource_type_at(cast(str, target.endpoint))
            if resource_type.name == "Group":
                self.service.authorize(request, target, resource_type)
                response_parameters = self.service.read_response_parameters(resource_type, request.query)
                patch_op = self.service.read_patch(resource_type, request.body, request.header("Content-Type"))
                changes = member_changes(patch_op)
                if changes is not None:
                    with self.storage.operation():
                        resource = self.storage.change_members(cast(str, target.resource_id), changes,
                                                               response_parameters)
                    return self.service.patch_response(request.base_url, resource, response_parameters)
        return super().patch(request)
