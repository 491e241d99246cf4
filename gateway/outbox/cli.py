"""``guard-gateway outbox refused|retry``: the events the management core refused for their
content (``gateway.outbox.refused``), listed, and sent again once the core takes them.

Both are safe while the gateway runs: ``retry`` changes the refused rows only, under the row
locks the delivery workers share, and the running gateway's workers pick the rows up within
their poll interval (a second).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the parser is built for every command: keep its imports light
    from gateway.settings import Settings

__all__ = ["add_outbox_parser", "run_outbox_command"]


def add_outbox_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``outbox`` sub-command's arguments."""
    outbox = sub.add_parser(
        "outbox", help="events the core refused: list them, send them again (safe while running)"
    )
    actions = outbox.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "refused", help="the events refused for their content, oldest first, one JSON a line"
    )
    listing.add_argument("--type", action="append", default=[], help="only this type (repeat)")
    listing.add_argument("--limit", type=int, default=None, help="at most this many")
    retry = actions.add_parser(
        "retry", help="send refused events again, same id and bytes (once the core is fixed)"
    )
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--type", action="append", default=[], help="every one of this type")
    which.add_argument("--event", action="append", default=[], help="this event id (repeat)")
    which.add_argument("--all", action="store_true", help="every refused event")


def run_outbox_command(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """``refused`` prints one JSON object a line (id, destination, type, subject, time,
    refused_at, attempts, answer: the core's answer); ``retry`` prints how many events were put
    back for delivery (0 when none matched: nothing to do is no error)."""
    from gateway.db.engine import make_engine
    from gateway.db.schema import create_schema
    from gateway.outbox.refused import list_refused, retry_refused

    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
        if args.outbox_command == "refused":
            for event in list_refused(engine, types=tuple(args.type), limit=args.limit):
                print(json.dumps(event.as_json(), ensure_ascii=False), file=out)
            return 0
        count = retry_refused(engine, types=tuple(args.type), event_ids=tuple(args.event))
        print(f"{count} refused event(s) put back for delivery", file=out)
        return 0
    finally:
        engine.dispose()
