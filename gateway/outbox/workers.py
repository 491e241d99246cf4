"""The delivery workers a gateway runs: to the management core, and one per group robot.

Built from the settings by ``build_gateway``; each sender they open is added to ``closers`` so
the gateway closes it when it stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import Engine

from gateway.clock import Clock
from gateway.outbox.delivery import DeliveryWorker
from gateway.outbox.robot_delivery import RobotDeliveryWorker
from gateway.outbox.robots import RobotTarget, make_sender
from gateway.outbox.senders import HttpCoreSender, Sender
from gateway.settings import Settings

__all__ = ["core_delivery_workers", "robot_delivery_workers"]

log = logging.getLogger(__name__)


def core_delivery_workers(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    sender: Sender | None,
    closers: list[Callable[[], None]],
) -> list[DeliveryWorker]:
    """``settings.delivery_workers`` workers to the core, through ``sender`` or else an HTTP
    sender to ``settings.core_url``; none (logged) when neither is given: events are then kept
    as the gateway's record only (``gateway.outbox.record``).

    On PostgreSQL, with several workers here or in other processes (``partitions`` > 1), they
    share the outbox through row locks (``shared``); otherwise one worker owns it.
    """
    if sender is None and settings.core_url:
        http_sender = HttpCoreSender(
            settings.core_url,
            settings.core_secret.get_secret_value(),
            timeout_s=settings.core_timeout_s,
        )
        closers.append(http_sender.close)
        sender = http_sender
    if sender is None:
        log.warning(
            "no management core configured (GATEWAY_CORE_URL): events are kept as the "
            "gateway's record only (the ledger, the robots and the live page have them)"
        )
        return []
    shared = engine.dialect.name == "postgresql" and (
        settings.partitions > 1 or settings.delivery_workers > 1
    )
    return [
        DeliveryWorker(
            engine,
            clock,
            sender,
            retry_initial_s=settings.delivery_retry_initial_s,
            retry_max_s=settings.delivery_retry_max_s,
            shared=shared,
        )
        for _ in range(settings.delivery_workers)
    ]


def robot_delivery_workers(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    targets: list[RobotTarget],
    closers: list[Callable[[], None]],
) -> list[RobotDeliveryWorker]:
    """A delivery worker per group robot, with the settings' cap and back-off."""
    robots = []
    for target in targets:
        sender = make_sender(target, clock, settings.robot_timeout_s)
        closers.append(sender.close)
        robots.append(
            RobotDeliveryWorker(
                engine,
                clock,
                sender,
                target,
                max_per_min=settings.robot_max_per_min,
                retry_initial_s=settings.delivery_retry_initial_s,
                retry_max_s=settings.delivery_retry_max_s,
            )
        )
        log.info("group robot %s: %s", target.robot_id, target.label)
    return robots
