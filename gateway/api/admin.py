"""The ``guard-gateway token`` and ``guard-gateway audit`` commands: issuing, listing and
revoking API tokens, and reading the audit log, straight on the configured database."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from sqlalchemy.orm import Session

from gateway.api.audit import audit_json, list_audit
from gateway.api.tokens import Role, issue_token, list_tokens, revoke_token, scope_notices
from gateway.clock import Clock
from gateway.db.engine import make_engine
from gateway.db.schema import create_schema
from gateway.errors import ConfigError
from gateway.settings import Settings

__all__ = ["run_audit_command", "run_token_command"]


def run_token_command(
    args: argparse.Namespace, settings: Settings, clock: Clock, out: TextIO, err: TextIO
) -> int:
    """``create`` prints the new token once (then its id and scope on stderr); ``list`` one
    line a token; ``revoke ID``. Exit code 1 with the reason on ``err`` when refused."""
    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
        with Session(engine) as session, session.begin():
            if args.token_command == "create":
                issued = issue_token(
                    session,
                    name=args.name,
                    role=Role(args.role),
                    now=clock.now(),
                    sites=tuple(args.site),
                    teams=tuple(args.team),
                )
                print(issued.token, file=out)
                row = issued.row
                print(
                    f"token {issued.id} ({row.role}{_scope(row.sites, row.teams)}) for "
                    f"{row.name}: keep it now, it is not shown again",
                    file=err,
                )
                for notice in scope_notices(session, tuple(row.sites), tuple(row.teams)):
                    print(f"notice: {notice}", file=err)
            elif args.token_command == "list":
                for row in list_tokens(session):
                    revoked = (
                        f"revoked {row.revoked_at.isoformat()}" if row.revoked_at else "active"
                    )
                    print(
                        f"{row.id}  {row.role:<11} {row.name}{_scope(row.sites, row.teams)}  "
                        f"created {row.created_at.isoformat()}  {revoked}",
                        file=out,
                    )
            else:
                row = revoke_token(session, args.id, clock.now())
                assert row.revoked_at is not None
                print(
                    f"token {row.id} ({row.name}) revoked at {row.revoked_at.isoformat()}", file=out
                )
    except ConfigError as exc:
        print(exc, file=err)
        return 1
    finally:
        engine.dispose()
    return 0


def run_audit_command(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """``audit list``: the newest records first, one JSON object a line."""
    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
        with Session(engine) as session:
            rows = list_audit(session, token_id=args.token, guard_id=args.guard, limit=args.limit)
            for row in rows:
                print(json.dumps(audit_json(row), ensure_ascii=False), file=out)
    finally:
        engine.dispose()
    return 0


def _scope(sites: list[str], teams: list[str]) -> str:
    if not sites:
        return ""
    text = f" of {', '.join(sites)}"
    return text + (f" teams {', '.join(teams)}" if teams else "")
