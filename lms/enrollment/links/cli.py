"""`lms links ...`: invite links from the command line (create, list, update, revoke, enable, QR code)."""
from pathlib import Path

import click

from lms.cli_helpers import emit, fail, json_option, run_service


def _link_dict(link, now):
    from lms.enrollment.links.services import describe_target, expires_on, link_state, link_url

    target = describe_target(link)
    return {"id": link.id, "url": link_url(link), "target": link.target.value, "name": target["name"],
            "group_id": link.group_id, "session_id": link.session_id, "role": link.role.value,
            "max_uses": link.max_uses, "use_count": link.use_count, "expires_on": expires_on(link),
            "allowed_domain": link.allowed_domain, "deactivate_on": link.deactivate_on,
            "self_registration": link.is_self_registration, "state": link_state(link, now).value}


def _line(row):
    uses = f"{row['use_count']}/{row['max_uses'] or '-'}"
    return f"{row['id']}\t{row['state']}\t{uses}\t{row['target']}: {row['name']}\t{row['url']}"


def register(lms_cli):
    @lms_cli.group("links")
    def links():
        """Invite links: a URL (and QR code) to join the platform, a group or a session."""

    def _find(link_id, as_json):
        from lms.enrollment.links.models import InviteLink
        from lms.extensions import db

        link = db.session.get(InviteLink, link_id)
        if link is None:
            fail(as_json, f"No invite link with the id {link_id}.")
        return link

    @links.command("create")
    @click.option("--group", "group_ref", help="Join this group (id, public id or name).")
    @click.option("--session", "session_ref", help="Join this session (id).")
    @click.option("--role", type=click.Choice(["learner", "manager"]), default="learner", show_default=True,
                  help="Role of the accounts the link creates.")
    @click.option("--max-uses", type=click.IntRange(min=1), help="How many people may join through it.")
    @click.option("--expires-on", type=click.DateTime(formats=["%Y-%m-%d"]), help="Last day it works (YYYY-MM-DD).")
    @click.option("--domain", help="Only addresses at this domain, e.g. @acme.example.")
    @click.option("--deactivate-on", type=click.DateTime(formats=["%Y-%m-%d"]),
                  help="Deactivate the accounts it creates on this day (YYYY-MM-DD).")
    @click.option("--self-registration", is_flag=True, help="Session links: joiners are registered as accepted.")
    @json_option
    def create_command(group_ref, session_ref, role, max_uses, expires_on, domain, deactivate_on,
                       self_registration, as_json):
        """Create a link (to the platform unless --group or --session); prints its id and URL."""
        from lms.clock import utcnow
        from lms.enrollment.groups.services import find_group
        from lms.enrollment.links.services import create_link
        from lms.extensions import db
        from lms.programs.services import find_session

        if group_ref and session_ref:
            fail(as_json, "Give --group or --session, not both.")
        now = utcnow()
        group = run_service(as_json, lambda: find_group(group_ref)) if group_ref else None
        session = run_service(as_json, lambda: find_session(session_ref)) if session_ref else None
        target = "group" if group else "session" if session else "platform"
        link = run_service(as_json, lambda: create_link(
            actor=None, now=now, target=target, group=group, session=session, role=role, max_uses=max_uses,
            expires_on=expires_on.date() if expires_on else None, allowed_domain=domain,
            deactivate_on=deactivate_on.date() if deactivate_on else None, self_registration=self_registration))
        db.session.commit()
        row = _link_dict(link, now)
        emit(as_json, row, _line(row))

    @links.command("list")
    @json_option
    def list_command(as_json):
        """Every link, newest first, with its state and uses."""
        from sqlalchemy import select

        from lms.clock import utcnow
        from lms.enrollment.links.models import InviteLink
        from lms.extensions import db

        now = utcnow()
        rows = [_link_dict(link, now) for link in
                db.session.scalars(select(InviteLink).order_by(InviteLink.created_at.desc(), InviteLink.id.desc()))]
        emit(as_json, rows, lambda: "\n".join(_line(row) for row in rows) or "No invite links yet.")

    @links.command("update")
    @click.argument("link_id", type=int)
    @click.option("--max-uses", type=click.IntRange(min=1), help="How many people may join through it in all.")
    @click.option("--no-max-uses", is_flag=True, help="No maximum: anyone with the link may join.")
    @click.option("--expires-on", type=click.DateTime(formats=["%Y-%m-%d"]), help="Last day it works (YYYY-MM-DD).")
    @click.option("--no-expiry", is_flag=True, help="No last day.")
    @click.option("--domain", help="Only addresses at this domain, e.g. @acme.example.")
    @click.option("--any-domain", is_flag=True, help="Any address may join.")
    @json_option
    def update_command(link_id, max_uses, no_max_uses, expires_on, no_expiry, domain, any_domain, as_json):
        """Change a link's maximum uses, last day or domain; the URL and QR code stay the same.
        Terms not given are kept."""
        from lms.clock import utcnow
        from lms.enrollment.links.services import describe_change, expiry_day, update_link
        from lms.extensions import db

        pairs = (("--max-uses", max_uses, "--no-max-uses", no_max_uses),
                 ("--expires-on", expires_on, "--no-expiry", no_expiry),
                 ("--domain", domain, "--any-domain", any_domain))
        for option, value, opposite, cleared in pairs:
            if value is not None and cleared:
                fail(as_json, f"Give {option} or {opposite}, not both.")
        if all(value is None and not cleared for _, value, _, cleared in pairs):
            fail(as_json, "Nothing to change: give --max-uses, --expires-on or --domain "
                          "(or --no-max-uses, --no-expiry, --any-domain).")
        link = _find(link_id, as_json)
        now = utcnow()

        def term(value, cleared, current):
            return None if cleared else current if value is None else value

        changes = run_service(as_json, lambda: update_link(
            link, actor=None, now=now,
            max_uses=term(max_uses, no_max_uses, link.max_uses),
            expires_on=term(expires_on.date() if expires_on else None, no_expiry, expiry_day(link)),
            allowed_domain=term(domain, any_domain, link.allowed_domain)))
        db.session.commit()
        row = {**_link_dict(link, now), "changes": [
            {"field": change.field, "before": change.before, "after": change.after} for change in changes]}
        summary = "; ".join(describe_change(change) for change in changes)
        emit(as_json, row, _line(row) + ("\nChanged: " + summary if changes else "\nNothing to change."))

    def _switch(link_id, as_json, action):
        from lms.clock import utcnow
        from lms.extensions import db

        link = _find(link_id, as_json)
        now = utcnow()
        changed = action(link, actor=None, now=now)
        db.session.commit()
        row = {**_link_dict(link, now), "changed": changed}
        emit(as_json, row, _line(row))

    @links.command("revoke")
    @click.argument("link_id", type=int)
    @json_option
    def revoke_command(link_id, as_json):
        """Switch a link off; whoever opens it is told so."""
        from lms.enrollment.links.services import revoke_link

        _switch(link_id, as_json, revoke_link)

    @links.command("enable")
    @click.argument("link_id", type=int)
    @json_option
    def enable_command(link_id, as_json):
        """Switch a revoked link on again (same URL, same QR code)."""
        from lms.enrollment.links.services import enable_link

        _switch(link_id, as_json, enable_link)

    @links.command("qr")
    @click.argument("link_id", type=int)
    @click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), required=True,
                  help="File to write: .png or .svg.")
    @click.option("--size", type=click.IntRange(200, 4000), default=1200, show_default=True,
                  help="PNG width and height in pixels.")
    @json_option
    def qr_command(link_id, output, size, as_json):
        """Write the link's QR code to a PNG (for print) or SVG file."""
        from lms.enrollment.links.qr import qr_png, qr_svg
        from lms.enrollment.links.services import link_url

        link = _find(link_id, as_json)
        path = Path(output)
        if path.suffix.lower() not in (".png", ".svg"):
            fail(as_json, f"{output}: the file name must end in .png or .svg.")
        body = qr_svg(link_url(link)) if path.suffix.lower() == ".svg" else qr_png(link_url(link), size)
        try:
            path.write_bytes(body)
        except OSError as error:
            fail(as_json, f"{output}: {error.strerror}.")
        emit(as_json, {"id": link.id, "url": link_url(link), "file": str(path), "bytes": len(body)},
             f"Wrote {path} ({len(body):,} bytes) for {link_url(link)}")
