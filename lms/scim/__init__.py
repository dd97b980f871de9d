"""SCIM 2.0 provisioning (RFC 7643/7644, DESIGN §7): identity providers such as Entra ID and
Okta create, update, deactivate and group people at /scim/v2, through the domain services.

The protocol (routes, validation, PATCH, errors, discovery) is scim2-server's, served by
scim2-flask; this package holds what is ours: the tokens, the resources we publish, the mapping
of SCIM filters to SQL and the storage that turns each change into a service call.
"""
