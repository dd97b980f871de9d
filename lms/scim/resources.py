"""The resources /scim/v2 publishes: what its Schemas endpoint announces is what we keep.

A User carries the attributes the platform stores (DESIGN §7): userName, name.givenName and
name.familyName, one email, active and externalId. Identity providers send
more (title, phone numbers, addresses, the enterprise extension's department...): the policy
below accepts and drops what no schema here declares, as RFC 7644 §3.3 allows, so a provider's
default attribute mapping works without editing. What we read from dropped attributes
(`preferredLanguage` and `locale`, the enterprise `employeeNumber`) is read from the payload's
unknown attributes when a user is created or replaced.
"""
from typing import Annotated

from pydantic import EmailStr, Field, ValidationInfo, model_validator
from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    Context,
    ETag,
    Filter,
    Mutability,
    Patch,
    Reference,
    Required,
    Resource,
    ResourceType,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MAX_RESULTS = 1000  # the largest page a search returns (ServiceProviderConfig filter.maxResults)


class Name(ComplexAttribute):
    given_name: str | None = None
    family_name: str | None = None


class Email(ComplexAttribute):
    """The person's email: the platform keeps one, so it is their primary work address, and
    lms.scim.service reads Entra's emails[type eq "work"].value as emails.value."""

    value: Annotated[EmailStr | None, Required.true] = None


class User(Resource):
    """A person. `emails` is required, as the platform reaches everyone by email; a userName
    that is an email stands for it when a provider sends none. `active` is required too: every
    account is active or deactivated (a creation without it creates an active account)."""

    __schema__ = URN(USER_SCHEMA)

    # The person's email, or the name the provider signs them in with (an Entra user principal
    # name) when `emails` gives the email.
    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    name: Name | None = None
    active: Annotated[bool | None, Required.true] = None
    emails: Annotated[list[Email] | None, Required.true] = None

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data, info: ValidationInfo):
        scim_context = info.context.get("scim") if info.context else None
        if not isinstance(data, dict) or not scim_context or not Context.is_request(scim_context):
            return data
        keys = {key.lower(): key for key in data if isinstance(key, str)}
        user_name = data.get(keys.get("username", ""))
        if not data.get(keys.get("emails", "")) and isinstance(user_name, str) and "@" in user_name:
            data = {**data, "emails": [{"value": user_name.strip()}]}
        if "active" not in keys and scim_context == Context.RESOURCE_CREATION_REQUEST:
            data = {**data, "active": True}
        return data


class GroupMember(ComplexAttribute):
    """A member: a person (groups do not nest)."""

    value: Annotated[str | None, Mutability.immutable, CaseExact.true] = None
    ref: Annotated[Reference["User"] | None, Mutability.immutable] = Field(  # noqa: F821
        None, serialization_alias="$ref", validation_alias="$ref")
    type: Annotated[str | None, Mutability.immutable] = Field(None, examples=["User"])


class Group(Resource):
    __schema__ = URN(GROUP_SCHEMA)

    display_name: Annotated[str | None, Required.true] = None
    members: list[GroupMember] | None = None


def service_provider_config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken, name="Bearer token",
            description="A token made by `flask lms scim token create NAME` or on the SCIM tokens page, "
                        "sent as Authorization: Bearer TOKEN.",
            primary=True)],
    )


# What identity providers send that the RFC does not: Entra's `remove` with a value that says
# which members go, a `replace` on emails[type eq "work"].value of a user with no such email,
# and attributes no schema here declares (dropped).
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

USER_TYPE = ResourceType.from_resource(User)
GROUP_TYPE = ResourceType.from_resource(Group)


def provider() -> ScimProvider:
    return ScimProvider(models=[User, Group], resource_types=[USER_TYPE, GROUP_TYPE],
                        config=service_provider_config(), policy=POLICY)
