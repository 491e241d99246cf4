"""Loading a site file into the database: all or nothing, every problem reported at once.

``load_site_file`` reads a YAML or JSON site file, checks its shape and its consistency, and in one
transaction replaces the configuration (posts, leaders, guards, devices, shifts) of each site it
names (with its checkpoints, routes, group robots, and guards' PINs and cards). History
(positions, scans, punches, reports, leaves, alerts, the outbox) is never touched. A file with any
problem stores nothing and raises ``ConfigError`` listing every problem with its place.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.clock import utc
from gateway.db.models import (
    AttendanceStateRow,
    CheckpointRow,
    DeviceRow,
    GuardRow,
    LeaderRow,
    PatrolStateRow,
    PostRow,
    PresenceStateRow,
    RouteRow,
    ShiftRow,
)
from gateway.db.slices import slices
from gateway.errors import ConfigError
from gateway.outbox.tables import RobotRow
from gateway.site.checks import CheckedSite, check_site_file, place
from gateway.site.kept_duties import keep_leaving_duties
from gateway.site.notices import site_notices
from gateway.site.robot_queue import drop_removed_robots_queue, robots_of
from gateway.site.robots import robot_secret_problems
from gateway.site.schema import SiteFile
from gateway.site.store import clear_site, replace_site

__all__ = [
    "LoadSummary",
    "SiteYamlLoader",
    "load_site_file",
    "read_site_file",
    "validate_site_file",
]

logger = logging.getLogger(__name__)

_CONFIG_TABLES: tuple[tuple[str, str, Any], ...] = (
    ("posts", "post", PostRow),
    ("leaders", "leader", LeaderRow),
    ("guards", "guard", GuardRow),
    ("devices", "device", DeviceRow),
    ("checkpoints", "checkpoint", CheckpointRow),
    ("routes", "route", RouteRow),
    ("robots", "robot", RobotRow),
)


@dataclass(frozen=True, slots=True)
class LoadSummary:
    """What a load stored: the sites and how many rows of each kind, and the shifts' span."""

    site_ids: tuple[str, ...]
    posts: int
    leaders: int
    guards: int
    devices: int
    shifts: int
    shifts_from: datetime | None
    shifts_until: datetime | None
    checkpoints: int = 0
    routes: int = 0
    robots: int = 0
    notices: tuple[str, ...] = ()
    """What the file allows but the gateway cannot watch (``gateway.site.notices``), and the
    messages dropped with a group robot the load removed (``gateway.site.robot_queue``)."""


def read_site_file(path: Path) -> tuple[SiteFile, bytes]:
    """Parse ``path`` (YAML, or JSON by its ``.json`` suffix) and check its shape.

    Returns the parsed file and its bytes. Raises ``ConfigError`` naming every misshapen place.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read site file: {exc}") from exc
    try:
        raw: Any = (
            json.loads(data, object_pairs_hook=_refuse_repeated_keys)
            if path.suffix.lower() == ".json"
            else yaml.load(_named(data, path), SiteYamlLoader)
        )
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable site file: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a site file is a mapping with a 'sites' list")
    try:
        return SiteFile.model_validate(raw), data
    except ValidationError as exc:
        raise _config_error(path, [_describe(error, raw) for error in exc.errors()]) from None


def validate_site_file(
    path: Path, now: datetime, secrets: Container[str] | None = None
) -> list[CheckedSite]:
    """Read and check ``path`` without touching any database; ``ConfigError`` lists problems.

    With ``secrets`` (the names set in ``GATEWAY_ROBOT_SECRETS``), every secret a robot names
    must be among them; ``None`` leaves secrets unchecked (they may be set elsewhere).
    """
    doc, _ = read_site_file(path)
    checked, problems = check_site_file(doc, utc(now))
    if secrets is not None:
        problems += robot_secret_problems(doc.sites, secrets)
    if problems:
        raise _config_error(path, problems)
    return checked


def load_site_file(
    path: Path,
    engine: Engine,
    now: datetime,
    secrets: Container[str] | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> LoadSummary:
    """Load ``path`` into ``engine``'s database in one transaction (see the module docstring).

    ``progress`` (the CLI's) is told a line after each step: read, checked, each site stored,
    committed.

    Roster lines are expanded into shifts starting from the day before ``now`` (local) to seven
    days after. Ids already used by a site not in this file are refused. ``secrets`` as for
    :func:`validate_site_file`. Raises ``ConfigError``.
    """
    tell = progress or (lambda _line: None)
    now = utc(now)
    doc, data = read_site_file(path)
    tell(f"read {len(data)} bytes, {len(doc.sites)} site(s)")
    checked, problems = check_site_file(doc, now)
    if secrets is not None:
        problems += robot_secret_problems(doc.sites, secrets)
    tell(f"checked: {len(problems)} problem(s)")
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Session(engine) as session, session.begin():
            problems += _taken_elsewhere(session, checked)
            if problems:
                raise _config_error(path, problems)
            # Before the rows go: the shifts of a guard or post leaving the file (or of a
            # guard moved to another site, team or leaders) keep what their rules still need
            # of them; written once the shifts show which ones the load ended.
            kept = keep_leaving_duties(session, checked, now)
            robots_before = robots_of(session, checked)
            for site in checked:
                clear_site(session, site.entry.id)
            for number, site in enumerate(checked, start=1):
                replace_site(session, site, digest, now)
                tell(f"site {site.entry.id} written ({number}/{len(checked)})")
            kept.write(session, now)
            dropped = drop_removed_robots_queue(session, robots_before, checked)
            # Rule state of shifts that no longer exist would fire timers for nobody.
            for state_model in (PresenceStateRow, PatrolStateRow, AttendanceStateRow):
                session.execute(
                    delete(state_model).where(state_model.shift_id.not_in(select(ShiftRow.id)))
                )
    except IntegrityError as exc:
        raise ConfigError(f"{path}: the database refused the configuration: {exc.orig}") from exc
    tell("committed")
    summary = replace(_summary(checked), notices=(*site_notices(doc), *dropped))
    logger.info(
        "loaded site file %s: sites %s, %d posts, %d guards, %d devices, %d shifts",
        path,
        ", ".join(summary.site_ids),
        summary.posts,
        summary.guards,
        summary.devices,
        summary.shifts,
    )
    return summary


_IDS_PER_QUERY = 10_000


def _taken_elsewhere(session: Session, checked: Sequence[CheckedSite]) -> list[str]:
    """Ids in this file that already belong to a site the file does not name."""
    site_ids = [c.entry.id for c in checked]
    problems: list[str] = []
    for part, noun, model in _CONFIG_TABLES:
        wanted = {item.id for c in checked for item in getattr(c.entry, part)}
        if not wanted:
            continue
        owners: dict[str, str] = {}
        for id_slice in slices(sorted(wanted), _IDS_PER_QUERY):  # a city's file: 100,000 ids
            found = session.execute(
                select(model.id, model.site_id).where(
                    model.id.in_(id_slice), model.site_id.not_in(site_ids)
                )
            )
            owners.update((str(id_), str(site)) for id_, site in found)
        for c in checked:
            for j, item in enumerate(getattr(c.entry, part)):
                if item.id in owners:
                    problems.append(
                        f"{place(c.index, part, j, f'id {item.id!r}')}: {noun} id already "
                        f"belongs to site {owners[item.id]!r} (remove it there first)"
                    )
    return problems


def _summary(checked: Sequence[CheckedSite]) -> LoadSummary:
    shifts = [s for c in checked for s in c.shifts]
    return LoadSummary(
        site_ids=tuple(c.entry.id for c in checked),
        posts=sum(len(c.entry.posts) for c in checked),
        leaders=sum(len(c.entry.leaders) for c in checked),
        guards=sum(len(c.entry.guards) for c in checked),
        devices=sum(len(c.entry.devices) for c in checked),
        shifts=len(shifts),
        shifts_from=min((s.starts_at for s in shifts), default=None),
        shifts_until=max((s.ends_at for s in shifts), default=None),
        checkpoints=sum(len(c.entry.checkpoints) for c in checked),
        routes=sum(len(c.entry.routes) for c in checked),
        robots=sum(len(c.entry.robots) for c in checked),
    )


def _config_error(path: Path, problems: Sequence[str]) -> ConfigError:
    noun = "problem" if len(problems) == 1 else "problems"
    listing = "\n".join(f"  - {p}" for p in problems)
    return ConfigError(f"{path}: {len(problems)} {noun} in the site file:\n{listing}")


def _describe(error: Any, raw: Any) -> str:
    """A pydantic error as ``sites[0].posts[2] (id 'gate-east').datum: <what is wrong>``.

    Like the consistency checks, only the innermost entry with an id is labelled with it.
    """
    segments: list[str] = []
    labelled: tuple[int, str] | None = None
    node: Any = raw
    for part in error["loc"]:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
            segments.append(f"[{part}]")
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                labelled = (len(segments) - 1, f" (id {node['id']!r})")
        elif isinstance(node, dict) and part in node:
            node = node[part]
            segments.append(f".{part}")
        elif isinstance(node, dict) and node.get("type") == part:
            continue  # the discriminator's tag, not a key of the file
        else:
            segments.append(f".{part}" if isinstance(part, str) else f"[{part}]")
            node = None
    if labelled is not None:
        segments[labelled[0]] += labelled[1]
    message = error["msg"]
    if error["type"] in ("literal_error", "string_pattern_mismatch", "union_tag_invalid"):
        message += f" (got {error['input']!r})"
    if error["type"] == "extra_forbidden":
        message = "unknown field (misspelt?)"
    return f"{''.join(segments).lstrip('.')}: {message}"


class SiteYamlLoader(yaml.SafeLoader):
    """Safe YAML read as a person wrote it, where YAML 1.1 would read something else:

    * ``22:00`` stays the text of a time, not the base-60 number 1320;
    * digits with a leading zero (an unquoted PIN ``0012``, a serial number) stay the text
      written, not the octal number 10 (``0019``, with no octal reading, stayed text anyway):
      a PIN read as another number matches another guard's punches, or nobody's; a number
      field reads the text as the decimal it shows (``0600`` is 600);
    * a key given twice in one mapping (two ``shifts:`` blocks in a site) is refused with the
      lines of both, where YAML keeps the last one and drops the first without a word.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):  # else YAML says what it found instead
            _refuse_repeated_yaml_keys(node)
        return super().construct_mapping(node, deep=deep)


def _refuse_repeated_yaml_keys(node: yaml.MappingNode) -> None:
    """``ConstructorError`` at the second of two equal plain keys of ``node`` (keys merged in
    with ``<<`` may be overridden, as YAML means them to be)."""
    first_line: dict[str, int] = {}
    for key_node, _value in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in first_line:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key_node.value!r} is given twice in one mapping (first at line "
                f"{first_line[key_node.value]}): YAML would keep the second and drop the first; "
                "merge them into one",
                key_node.start_mark,
            )
        first_line[key_node.value] = line


def _refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, ``ValueError`` for a key given twice (JSON, too, would keep
    the last one silently)."""
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            raise ValueError(
                f"key {key!r} is given twice in one object: JSON would keep the second and "
                "drop the first; merge them into one"
            )
        mapping[key] = value
    return mapping


def _named(data: bytes, path: Path) -> io.BytesIO:
    """``data`` as a stream YAML's messages name by ``path`` (not ``<byte string>``)."""
    stream = io.BytesIO(data)
    stream.name = str(path)
    return stream


_AS_WRITTEN = re.compile(r"^(?:\d{1,2}:\d{2}(?::\d{2})?|0\d+)$")
"""Times of day (``22:00``) and digits with a leading zero (``0012``): text, as written."""
SiteYamlLoader.yaml_implicit_resolvers = {
    first: ([("tag:yaml.org,2002:str", _AS_WRITTEN)] if first in "0123456789" else [])
    + list(resolvers)
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
