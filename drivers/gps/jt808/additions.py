"""Additional information items of a location report that a guard's supervisor acts on: the
battery level and the vendors' tamper/removal alarms.

Items (id BYTE, length BYTE, value) follow the 28-byte base of a 0x0200 body. JT/T 808 defines a
few (0x01 mileage, 0x02 fuel, 0x30 signal, 0x31 satellites...) and none for a battery: terminals
worn by people report it in items of their vendor's choosing, and the same id means different
things to different vendors. So every rule here is keyed by the id *and* the length, and each
was checked on a real terminal's frame for which traccar's ``Jt808ProtocolDecoderTest`` asserts
the value (tests/corpus/jt808_traccar_frames.json, jt808_frames.json frame 37):

=======  ======  =====================================================================
item     length  value
=======  ======  =====================================================================
0x06     1       battery % (length 2 is the 2019 standard's carriage temperature)
0x56     2       power level 0-10 (x 10 = %), then a reserved byte
0xD4     1       battery %
0xE1     1       battery %; 0xFF means charging, no level (length 2 is the external
                 supply voltage, longer ones cell towers or a driver id)
0xE3     6       reserved, battery %, voltage WORD (0.01 V), reserved
0xE4     2       charging flag, battery %
0xFE     1       battery %
0xEB     any     sub-items ``length WORD | id WORD | value``: 0x00A8 and 0x00E1 battery %
                 BYTE; 0x0089 a status DWORD whose bit 12 *clear* means removed
=======  ======  =====================================================================

The first battery item in wire order wins; a value above 100 % is no level and is skipped.
Items that give only a voltage (0x69, 0xEB/0x002D...) are not turned into a percentage: how a
cell's voltage maps to its charge depends on the cell and the load, and a wrong level is worse
than none. 0xEB is read as sub-items only when they fill it exactly; other vendors put cell
towers or a time zone text there.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.records import Alarm

__all__ = ["battery_pct", "vendor_alarms"]

_EB_BATTERY = (0x00A8, 0x00E1)
_EB_STATUS = 0x0089
_EB_STATUS_FITTED = 1 << 12  # set while the terminal is worn/fitted; clear: removed


def _eb_sub_items(value: bytes) -> list[tuple[int, bytes]]:
    """The sub-items of a 0xEB item, or none when they do not fill it exactly."""
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(value):
        if pos + 4 > len(value):
            return []
        length = int.from_bytes(value[pos : pos + 2], "big")
        if length < 2 or pos + 2 + length > len(value):
            return []
        sub_id = int.from_bytes(value[pos + 2 : pos + 4], "big")
        items.append((sub_id, bytes(value[pos + 4 : pos + 2 + length])))
        pos += 2 + length
    return items


def _level(item: int, value: bytes) -> int | None:
    """The battery % an item carries by the rules of the table, or ``None``."""
    size = len(value)
    if item in (0x06, 0xD4, 0xE1, 0xFE) and size == 1:
        return value[0]
    if item == 0x56 and size == 2:
        return value[0] * 10
    if item == 0xE3 and size == 6:
        return value[1]
    if item == 0xE4 and size == 2:
        return value[1]
    if item == 0xEB:
        for sub_id, sub_value in _eb_sub_items(value):
            if sub_id in _EB_BATTERY and len(sub_value) == 1:
                return sub_value[0]
    return None


def battery_pct(items: Iterable[tuple[int, bytes]]) -> float | None:
    """The battery level in % of a report's additional items (wire order), or ``None``."""
    for item, value in items:
        level = _level(item, value)
        if level is not None and 0 <= level <= 100:
            return float(level)
    return None


def vendor_alarms(items: Iterable[tuple[int, bytes]]) -> frozenset[Alarm]:
    """Alarms that vendors report in additional items (see the table): the removal status."""
    alarms: set[Alarm] = set()
    for item, value in items:
        if item != 0xEB:
            continue
        for sub_id, sub_value in _eb_sub_items(value):
            status = int.from_bytes(sub_value, "big") if len(sub_value) == 4 else None
            if sub_id == _EB_STATUS and status is not None and not status & _EB_STATUS_FITTED:
                alarms.add(Alarm.REMOVED)
    return frozenset(alarms)
