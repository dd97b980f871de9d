"""`lms scim token ...`: the bearer tokens identity providers call /scim/v2 with."""
import click

from lms.cli_helpers import emit, json_option, run_service


def _token_dict(row):
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "created_at": row.created_at,
            "last_used_at": row.last_used_at, "revoked_at": row.revoked_at}


def _line(row):
    state = f"revoked {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else "active"
    used = f"last used {row['last_used_at']:%Y-%m-%d %H:%M}" if row["last_used_at"] else "never used"
    return f"{row['id']}\t{state}\t{row['prefix']}…\t{used}\t{row['name']}"


def register(lms_cli):
    @lms_cli.group("scim")
    def scim():
        """SCIM 2.0 provisioning at BASE_URL/scim/v2 (Entra ID, Okta...)."""

    @scim.group("token")
    def token():
        """Bearer tokens of identity providers: create, list, revoke."""

    @token.command("create")
    @click.argument("name")
    @json_option
    def create_command(name, as_json):
        """Create a token named NAME; prints it once (it is stored hashed and cannot be shown again)."""
        from lms.clock import utcnow
        from lms.extensions import db
        from lms.scim.tokens import create_token

        row, secret = run_service(as_json, lambda: create_token(name, actor=None, now=utcnow()))
        db.session.commit()
        emit(as_json, {"id": row.id, "token": secret},
             f"SCIM token {row.id} ({row.name}) created. Copy it now, it is not shown again:\n{secret}")

    @token.command("list")
    @json_option
    def list_command(as_json):
        """Every token: id, state, first characters, last use, name (never the token itself)."""
        from lms.scim.tokens import list_tokens

        rows = [_token_dict(row) for row in list_tokens()]
        emit(as_json, rows, lambda: "\n".join(_line(row) for row in rows) or "No SCIM tokens.")

    @token.command("revoke")
    @click.argument("token_id")
    @json_option
    def revoke_command(token_id, as_json):
        """Revoke token TOKEN_ID (see `list`): requests with it are refused from now on."""
        from lms.clock import utcnow
        from lms.extensions import db
        from lms.scim.tokens import find_token, revoke_token

        row = run_service(as_json, lambda: find_token(token_id))
        revoked = revoke_token(row, actor=None, now=utcnow())
        db.session.commit()
        emit(as_json, {**_token_dict(row), "revoked": revoked},
             f"SCIM token {row.id} ({row.name}) " + ("revoked." if revoked else "was already revoked."))
