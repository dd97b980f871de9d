"""`lms groups ...` commands."""
import click

from lms.cli_helpers import emit, json_option, run_service


def register(lms_cli):
    @lms_cli.group("groups")
    def groups():
        """Groups."""

    @groups.command("create")
    @click.argument("name")
    @json_option
    def create_command(name, as_json):
        """Create a group; prints its public id (to paste into rosters)."""
        from lms.clock import utcnow
        from lms.enrollment.groups.services import create_group
        from lms.extensions import db

        group = run_service(as_json, lambda: create_group(name, actor=None, now=utcnow()))
        db.session.commit()
        emit(as_json, {"id": group.id, "public_id": group.public_id, "name": group.name},
             f"{group.public_id}\t{group.name}")

    @groups.command("list")
    @json_option
    def list_command(as_json):
        """List groups with their public ids and member counts."""
        from lms.enrollment.groups.services import groups_with_counts

        rows = [
            {"id": group.id, "public_id": group.public_id, "name": group.name,
             "member_count": members, "session_count": sessions}
            for group, members, sessions in groups_with_counts()
        ]
        emit(as_json, rows, lambda: "\n".join(
            f"{row['public_id']}\t{row['member_count']:>6} members\t{row['name']}" for row in rows
        ) or "No groups yet.")
