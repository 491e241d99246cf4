"""``guard-gateway alerts list|ack|resolve``: the alert routes' commands from the shell.

Acknowledging and resolving run the very commands the API runs (``AcknowledgeAlert``,
``ResolveAlert``), wrapped in ``Audited`` as the operator of the machine (an unscoped principal
named ``cli:<user>``, token id ``cli``), on a ``Processor`` of their own through
``Processor.run_command``: one transaction holding the alert's change, its ``alert.resolved``
event in the outbox and the audit record. This is safe while the gateway runs: the commands
change the alert row and the outbox only, never a rule machine the running pipeline holds in
memory; the running gateway's delivery finds the event in the outbox within a second, and its
escalation re-reads an alert under a row lock before escalating it.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any, TextIO

from sqlalchemy.orm import Session

from gateway.api.alerts_routes import alert_ref
from gateway.api.audit import Acting, Audited, alert_subject
from gateway.api.tokens import Principal, Role
from gateway.clock import Clock
from gateway.db import repository as repo
from gateway.db.base import ID_LENGTH
from gateway.db.engine import make_engine
from gateway.db.models import NOTE_LENGTH
from gateway.db.schema import create_schema
from gateway.outbox.routing import RobotRouter
from gateway.pipeline.alert_commands import AcknowledgeAlert, ResolveAlert, alert_json
from gateway.pipeline.processor import Processor
from gateway.settings import Settings

__all__ = ["CLI_TOKEN_ID", "run_alerts_command"]

CLI_TOKEN_ID = "cli"
"""The token id the audit log records for actions taken with this command."""


def run_alerts_command(
    args: argparse.Namespace, settings: Settings, clock: Clock, out: TextIO, err: TextIO
) -> int:
    """``list`` prints one JSON object a line (newest first); ``ack`` and ``resolve`` print the
    alert as changed. Exit 1 for an unknown alert, one already resolved, or an acknowledgement
    refused (``--by`` no leader of its site, a time before it opened), 2 for an argument longer
    than its column."""
    for name, limit in (("by", ID_LENGTH), ("note", NOTE_LENGTH), ("guard", ID_LENGTH)):
        value = getattr(args, name, None)
        if value is not None and len(value) > limit:
            print(f"guard-gateway: --{name} is longer than {limit} characters", file=err)
            return 2
    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
        if args.alerts_command == "list":
            with Session(engine) as session:
                rows = repo.list_alerts(
                    session, status=args.status, guard_id=args.guard, limit=args.limit
                )
                for row in rows:
                    print(json.dumps(alert_json(row), ensure_ascii=False), file=out)
            return 0
        processor = Processor(
            engine, clock, event_source=settings.event_source, route=RobotRouter()
        )
        try:
            result = processor.run_command(_audited(args, clock))
        except (repo.NotFound, repo.Conflict, repo.InvalidRequest) as exc:
            print(f"guard-gateway: {exc}", file=err)
            return 1
        print(json.dumps(result, ensure_ascii=False), file=out)
        return 0
    finally:
        engine.dispose()


def _audited(args: argparse.Namespace, clock: Clock) -> Audited:
    user = getpass.getuser()
    principal = Principal(CLI_TOKEN_ID, f"cli:{user}", Role.ADMIN)
    acting = Acting(principal, CLI_TOKEN_ID, clock.now())
    key = alert_ref(args.id)
    command: Any
    if args.alerts_command == "ack":
        command = AcknowledgeAlert(alert=key, by=args.by, at=acting.at, note=args.note)
        action = "alert.acknowledge"
    else:
        command = ResolveAlert(
            alert=key, note=args.note, by=args.by or user[:ID_LENGTH], at=acting.at
        )
        action = "alert.resolve"
    return Audited(
        acting,
        action,
        command,
        alert_subject(key),
        lambda result: {"alert_id": result["id"], "alert_key": result["alert_key"]},
        what=f"alert {key!r}",
        by_reference=True,
    )
