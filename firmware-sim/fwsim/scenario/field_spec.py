"""Field scenarios: checkpoint readers, clock-in terminals and their timeline (validation).

``load_field_scenario`` reads a site-day file (``fwsim.scenario.day_spec``), which turns its
``readers``, ``clock_in`` terminals and ``actions`` into the form below (times as offsets from
its ``start``); ``parse_field_scenario`` validates that form (GPS ``terminals`` as
``fwsim.scenario.loader`` reads them, optional), which the in-process rigs also build::

    field_devices:
      timezone: Asia/Shanghai          # the terminals' local clock (default Asia/Shanghai)
      readers:
        - {id: em-east, kind: em4100, variant: rdm6300}    # rdm6300 | decimal | wiegand26/34
        - id: nfc-lobby
          kind: pn532
          tags:                        # named tags for present_nfc
            lobby: {type: ntag213, uid: "04A2241A6B1C80", text: "cp-lobby"}   # or uri:
            card: {type: mifare_classic, uid: "5C9A3E21"}
      terminals:
        - {id: zk-gate, kind: zkteco_push, sn: "ZK0001", base_url: "http://..."}  # url optional
        - {id: zk-hall, kind: zkteco_binary}
      timeline:                        # each entry: at_s or at_min from the start, one action
        - {at_min: 6, scan: {reader: em-east, tag: "0100A1B2C3", repeats: 3}}
        - {at_min: 7, present_nfc: {reader: nfc-lobby, tag: lobby, seconds: 1}}
        - {at_min: 1, punch: {terminal: zk-gate, pin: "1001", kind: check_in, verify: fingerprint}}

Other actions: ``push``/``repush``/``restart`` ``{terminal}`` (upload pending records; upload
acknowledged ones again; a binary terminal reboots), ``noise``/``partial_frame``/``unplug``/
``replug`` ``{reader}``, ``bad_checksum {reader, tag}``. ``punch`` takes ``push: false`` to keep
the record on a PUSH terminal until a later ``push``. ``kind`` is a name (``check_in`` ...
``overtime_out``) or the ZKTeco state 0-5; ``verify`` a name (``fingerprint``, ``password``,
``card``, ``face``, ``palm``) or the terminal's code.

Played by ``fwsim.scenario.field.FieldRunner``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from fwsim.em4100.reader import VARIANTS
from fwsim.pn532 import MifareClassic1k, Ntag213, SimTag, ndef_message, text_record, uri_record
from fwsim.scenario.fields import Problems, number, unknown_keys
from fwsim.scenario.loader import NOT_A_SITE_DAY, parse_scenario
from fwsim.scenario.model import Scenario, ScenarioError

__all__ = [
    "PUNCH_STATES",
    "VERIFY_CODES",
    "FieldAction",
    "FieldScenario",
    "NfcTagSpec",
    "ReaderSpec",
    "TerminalSpec",
    "load_field_scenario",
    "parse_field_scenario",
]

#: ZKTeco punch states (attendance states) by name.
PUNCH_STATES: Mapping[str, int] = {
    "check_in": 0,
    "check_out": 1,
    "break_out": 2,
    "break_in": 3,
    "overtime_in": 4,
    "overtime_out": 5,
}
#: ZKTeco verify-mode codes by name (PUSH protocol ``VERIFY`` field).
VERIFY_CODES: Mapping[str, int] = {
    "fingerprint": 1,
    "password": 3,
    "card": 4,
    "face": 15,
    "palm": 25,
}

_ACTIONS: Mapping[str, frozenset[str]] = {
    "scan": frozenset({"reader", "tag", "repeats"}),
    "present_nfc": frozenset({"reader", "tag", "seconds"}),
    "punch": frozenset({"terminal", "pin", "kind", "verify", "push"}),
    "push": frozenset({"terminal"}),
    "repush": frozenset({"terminal"}),
    "restart": frozenset({"terminal"}),
    "noise": frozenset({"reader"}),
    "partial_frame": frozenset({"reader"}),
    "bad_checksum": frozenset({"reader", "tag"}),
    "unplug": frozenset({"reader"}),
    "replug": frozenset({"reader"}),
}
_EM_ONLY = frozenset({"scan", "noise", "partial_frame", "bad_checksum"})


@dataclass(frozen=True, slots=True)
class NfcTagSpec:
    """A tag for a PN532 reader: ``ntag213`` (7-byte UID, optional NDEF text or URI) or
    ``mifare_classic`` (4-byte UID)."""

    type: str
    uid: bytes
    text: str | None = None
    uri: str | None = None

    def build(self) -> SimTag:
        if self.type == "mifare_classic":
            return MifareClassic1k(self.uid)
        records = [text_record(self.text)] if self.text else []
        records += [uri_record(self.uri)] if self.uri else []
        return Ntag213(self.uid, ndef_message(*records) if records else b"")


@dataclass(frozen=True, slots=True)
class ReaderSpec:
    """A checkpoint reader: ``em4100`` (with ``variant``) or ``pn532`` (with named ``tags``)."""

    id: str
    kind: str
    variant: str = "rdm6300"
    tags: Mapping[str, NfcTagSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TerminalSpec:
    """A clock-in terminal: ``zkteco_push`` (``sn``, optional ``base_url``) or ``zkteco_binary``."""

    id: str
    kind: str
    sn: str = ""
    base_url: str | None = None


@dataclass(frozen=True, slots=True)
class FieldAction:
    """One timeline entry, ``at_s`` seconds from the start. ``device`` is the reader or terminal;
    the other fields are those of its kind (``remove`` is the end of a ``present_nfc``)."""

    at_s: float
    kind: str
    device: str
    tag: str = ""
    repeats: int = 1
    seconds: float = 1.0
    pin: str = ""
    punch: int = 0
    verify: int = 1
    push: bool = True


@dataclass(frozen=True, slots=True)
class FieldScenario:
    """GPS terminals (``gps``, ``None`` when the file has none) plus field devices."""

    name: str
    readers: tuple[ReaderSpec, ...]
    terminals: tuple[TerminalSpec, ...]
    timeline: tuple[FieldAction, ...]
    timezone: str = "Asia/Shanghai"
    gps: Scenario | None = None
    description: str = ""


def _text(args: Mapping[str, Any], key: str, where: str, problems: Problems) -> str:
    value = args.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        problems.add(where, f"'{key}' must be a non-empty text, got {value!r}")
        return ""
    return value


def _code(value: object, names: Mapping[str, int], default: int, where: str, p: Problems) -> int:
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255:
        return value
    if isinstance(value, str) and value in names:
        return names[value]
    p.add(where, f"expected one of {', '.join(names)} or a code 0-255, got {value!r}")
    return default


def _uid(raw: object, where: str, problems: Problems) -> bytes:
    text = str(raw or "").replace(":", "").replace("-", "").replace(" ", "")
    try:
        return bytes.fromhex(text)
    except ValueError:
        problems.add(where, f"'uid' must be hex, got {raw!r}")
        return b""


def _readers(raw: object, problems: Problems) -> list[ReaderSpec]:
    out: list[ReaderSpec] = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        where = f"field_devices.readers[{i}]"
        if not isinstance(item, Mapping):
            problems.add(where, "a reader must be a mapping")
            continue
        unknown_keys(item, frozenset({"id", "kind", "variant", "tags"}), where, problems)
        rid, kind = _text(item, "id", where, problems), item.get("kind")
        variant = str(item.get("variant", "rdm6300"))
        tags: dict[str, NfcTagSpec] = {}
        if kind == "em4100" and variant not in VARIANTS:
            problems.add(where, f"'variant' must be one of {', '.join(VARIANTS)}")
        elif kind == "pn532":
            for name, tag in (item.get("tags") or {}).items():
                tw = f"{where}.tags[{name!r}]"
                if not isinstance(tag, Mapping):
                    problems.add(tw, "a tag must be a mapping {type, uid, text|uri}")
                    continue
                unknown_keys(tag, frozenset({"type", "uid", "text", "uri"}), tw, problems)
                spec = NfcTagSpec(str(tag.get("type")), _uid(tag.get("uid"), tw, problems))
                spec = NfcTagSpec(spec.type, spec.uid, tag.get("text"), tag.get("uri"))
                try:
                    spec.build()
                except (ValueError, KeyError) as exc:
                    problems.add(tw, f"not a valid ntag213/mifare_classic tag: {exc}")
                    continue
                tags[str(name)] = spec
        elif kind != "em4100":
            problems.add(where, f"'kind' must be em4100 or pn532, got {kind!r}")
        out.append(ReaderSpec(rid, str(kind), variant, tags))
    return out


def _terminals(raw: object, problems: Problems) -> list[TerminalSpec]:
    out: list[TerminalSpec] = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        where = f"field_devices.terminals[{i}]"
        if not isinstance(item, Mapping):
            problems.add(where, "a terminal must be a mapping")
            continue
        unknown_keys(item, frozenset({"id", "kind", "sn", "base_url"}), where, problems)
        tid, kind = _text(item, "id", where, problems), item.get("kind")
        sn = ""
        if kind == "zkteco_push":
            sn = _text(item, "sn", where, problems)
        elif kind != "zkteco_binary":
            problems.add(where, f"'kind' must be zkteco_push or zkteco_binary, got {kind!r}")
        out.append(TerminalSpec(tid, str(kind), sn, item.get("base_url")))
    return out


def _action(
    raw: object, i: int, readers: Mapping[str, ReaderSpec], terminals: set[str], p: Problems
) -> FieldAction | None:
    where = f"field_devices.timeline[{i}]"
    if not isinstance(raw, Mapping):
        p.add(where, "an entry is a mapping {at_s | at_min, <action>: {...}}")
        return None
    kinds = [k for k in raw if k in _ACTIONS]
    unknown_keys(raw, frozenset({"at_s", "at_min", *_ACTIONS}), where, p)
    if len(kinds) != 1 or ("at_s" in raw) == ("at_min" in raw):
        p.add(where, "give exactly one of at_s / at_min and exactly one action")
        return None
    at = number(raw, "at_s" if "at_s" in raw else "at_min", where, p, minimum=0.0) or 0.0
    at_s = at if "at_s" in raw else at * 60.0
    kind, args = kinds[0], raw[kinds[0]]
    where = f"{where} ({kind})"
    if not isinstance(args, Mapping):
        p.add(where, "arguments must be a mapping")
        return None
    unknown_keys(args, _ACTIONS[kind], where, p)
    if "terminal" in _ACTIONS[kind]:
        device = _text(args, "terminal", where, p)
        if device and device not in terminals:
            p.add(where, f"no terminal {device!r} in field_devices.terminals")
    else:
        device = _text(args, "reader", where, p)
        reader = readers.get(device)
        if reader is None:
            p.add(where, f"no reader {device!r} in field_devices.readers")
        elif (kind in _EM_ONLY and reader.kind != "em4100") or (
            kind == "present_nfc" and reader.kind != "pn532"
        ):
            p.add(where, f"{kind} does not apply to a {reader.kind} reader")
        elif kind == "present_nfc" and args.get("tag") not in reader.tags:
            p.add(where, f"no tag {args.get('tag')!r} among reader {device!r}'s tags")
    tag = str(args.get("tag", "")) if "tag" in _ACTIONS[kind] else ""
    if kind in ("scan", "bad_checksum") and (len(tag) != 10 or not _is_hex(tag)):
        p.add(where, f"an EM4100 tag is 10 hex digits, got {tag!r}")
    repeats = args.get("repeats", 1)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        p.add(where, f"'repeats' must be a whole number >= 1, got {repeats!r}")
        repeats = 1
    seconds = number(args, "seconds", where, p, default=1.0, positive=True) or 1.0
    push = args.get("push", True)
    if not isinstance(push, bool):
        p.add(where, f"'push' must be true or false, got {push!r}")
    pin = _text(args, "pin", where, p) if kind == "punch" else ""
    state = _code(args.get("kind"), PUNCH_STATES, 0, f"{where} 'kind'", p)
    verify = _code(args.get("verify"), VERIFY_CODES, 1, f"{where} 'verify'", p)
    return FieldAction(at_s, kind, device, tag, repeats, seconds, pin, state, verify, push is True)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def parse_field_scenario(
    data: object, source: str = "<scenario>", *, default_name: str = ""
) -> FieldScenario:
    """Validate a parsed YAML document; raise ``ScenarioError`` listing every problem."""
    if not isinstance(data, Mapping):
        raise ScenarioError(source, ["the file must hold a mapping with 'field_devices'"])
    problems = Problems()
    rest = {k: v for k, v in data.items() if k != "field_devices"}
    gps: Scenario | None = None
    if "terminals" in rest:
        try:
            gps = parse_scenario(rest, source, default_name=default_name)
        except ScenarioError as exc:
            problems.items += exc.problems
    else:
        unknown_keys(rest, frozenset({"name", "description", "anchors"}), "", problems)
    section = data.get("field_devices")
    if not isinstance(section, Mapping):
        problems.add("field_devices", "must be a mapping with readers, terminals and timeline")
        raise ScenarioError(source, problems.items)
    allowed = frozenset({"timezone", "readers", "terminals", "timeline"})
    unknown_keys(section, allowed, "field_devices", problems)
    timezone = str(section.get("timezone", "Asia/Shanghai"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add("field_devices", f"unknown 'timezone' {timezone!r}")
    readers = _readers(section.get("readers"), problems)
    terminals = _terminals(section.get("terminals"), problems)
    ids = [d.id for d in readers] + [t.id for t in terminals]
    for dup in sorted({d for d in ids if ids.count(d) > 1}):
        problems.add("field_devices", f"device id {dup!r} is used twice")
    timeline_raw = section.get("timeline")
    if not isinstance(timeline_raw, list) or not timeline_raw:
        problems.add("field_devices.timeline", "must be a non-empty list")
        timeline_raw = []
    by_id = {r.id: r for r in readers}
    names = {t.id for t in terminals}
    actions = [_action(raw, i, by_id, names, problems) for i, raw in enumerate(timeline_raw)]
    if problems.items:
        raise ScenarioError(source, problems.items)
    timeline = sorted((a for a in actions if a is not None), key=lambda a: a.at_s)
    name = str(data.get("name") or default_name or "field-scenario")
    return FieldScenario(
        name,
        tuple(readers),
        tuple(terminals),
        tuple(timeline),
        timezone,
        gps,
        str(data.get("description") or ""),
    )


def load_field_scenario(path: str | Path) -> FieldScenario:
    """Read and validate a field scenario YAML file; ``ScenarioError`` when it is invalid.

    The file is a site-day file (``fwsim.scenario.day_spec``, it names a ``site``); it gives its
    readers, clock-in terminals and their actions (offsets from its ``start``) and its GPS
    terminals. Any other file is refused."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(str(file), [f"cannot read: {exc}"]) from exc
    if not (isinstance(data, Mapping) and "site" in data):
        raise ScenarioError(str(file), [NOT_A_SITE_DAY])
    from dataclasses import replace

    from fwsim.scenario.day_spec import parse_day_scenario  # it builds on this module

    day = parse_day_scenario(data, str(file), base_dir=file.parent, default_name=file.stem)
    if day.field is None:
        raise ScenarioError(str(file), ["the site-day file has no readers or terminals"])
    return replace(day.field, name=day.name, gps=day.gps, description=day.description)
