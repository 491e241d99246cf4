"""Which partition a guard belongs to, and the MQTT topics of a partition's devices.

A guard belongs to partition ``crc32(guard id) % partitions``: stable across processes, restarts
and Python versions (unlike ``hash``, which is salted per process). His devices go with him, so
every fix of one guard reaches one process, in the order the broker delivers them.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from drivers.mqtt.ingest_types import MqttMessage
from gateway.db.models import DeviceRow

__all__ = [
    "PartitionMessage",
    "device_topics",
    "partition_client_id",
    "partition_of",
    "partition_topics",
]


def partition_of(guard_id: str, partitions: int) -> int:
    """The partition of ``guard_id`` among ``partitions``."""
    return zlib.crc32(guard_id.encode("utf-8")) % partitions


def partition_client_id(prefix: str, partition: int) -> str:
    """The fixed MQTT client id of a partition: ``<prefix>-p<NN>`` (its persistent session)."""
    return f"{prefix}-p{partition:02d}"


def _level(text: str) -> bool:
    return bool(text) and not any(c in text for c in "+#/")


def device_topics(device_id: str, prefix: str = "devices") -> list[str]:
    """The topic filters a device's fixes can arrive on (``drivers.gps.topics``): its JSON, NMEA
    and JT/T 808 topics, its EMQX JT/T 808 uplink, and for an ``<user>/<device>`` id its
    OwnTracks topic. Ids with wildcards get none (they could never be a topic level)."""
    base = prefix.strip("/")
    if _level(device_id):
        return [
            f"{base}/{device_id}/json",
            f"{base}/{device_id}/nmea",
            f"{base}/{device_id}/jt808",
            f"jt808/+/{device_id}/up",
        ]
    user, _, device = device_id.partition("/")
    if _level(user) and _level(device):
        return [f"owntracks/{user}/{device}"]
    return []


def partition_topics(engine: Engine, partitions: int, prefix: str) -> dict[int, list[str]]:
    """Partition → the topic filters of the devices bound to its guards, sorted."""
    with Session(engine) as session:
        rows = session.execute(
            select(DeviceRow.id, DeviceRow.guard_id).where(DeviceRow.guard_id.is_not(None))
        ).all()
    topics: dict[int, set[str]] = defaultdict(set)
    for device_id, guard_id in rows:
        topics[partition_of(guard_id, partitions)].update(device_topics(device_id, prefix))
    return {p: sorted(t) for p, t in topics.items()}


@dataclass(frozen=True, slots=True)
class PartitionMessage(MqttMessage):
    """An MQTT message with the partition client that received it: its acknowledgement goes to
    that client only, never to a later client of the same partition (which the broker numbers
    anew, so a held-over packet id could name a different message)."""

    partition: int = field(default=-1, compare=False)
    source: object = field(default=None, compare=False, repr=False)
