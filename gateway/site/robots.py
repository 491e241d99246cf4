"""Checks of the leaders' group robots in a site file (``sites[].robots[]``).

Two kinds: whether a robot fits its site (known leaders and teams, a signing secret only where
the platform signs, an http(s) URL), checked with the rest of the file; and whether the secrets
it names are set, checked only where the gateway's settings are at hand (``site check``,
``site load``, ``run``), since the secrets live there and never in the file.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Sequence
from typing import Any

from gateway.site.schema import RobotEntry, SiteEntry

__all__ = ["ROBOT_SECRETS_SETTING", "robot_problems", "robot_rows", "robot_secret_problems"]

ROBOT_SECRETS_SETTING = "GATEWAY_ROBOT_SECRETS"
"""The environment variable (a JSON object: reference → secret) the references are looked up in."""


def _where(site_index: int, robot_index: int, robot: RobotEntry) -> str:
    return f"sites[{site_index}].robots[{robot_index}] (id {robot.id!r})"


def robot_problems(site: SiteEntry, site_index: int) -> list[str]:
    """What does not fit in the robots of ``site``: unknown leaders, teams no guard or leader
    belongs to (a misspelt team would silently route nothing), a WeCom ``secret_ref``, a URL
    that is not http(s)."""
    leaders = {leader.id for leader in site.leaders}
    teams = {g.team for g in site.guards if g.team} | {x.team for x in site.leaders if x.team}
    problems: list[str] = []
    for j, robot in enumerate(site.robots):
        where = _where(site_index, j, robot)
        for leader in robot.leaders:
            if leader not in leaders:
                problems.append(
                    f"{where}.leaders: unknown leader {leader!r} (not among this site's)"
                )
        for team in robot.teams:
            if team not in teams:
                problems.append(
                    f"{where}.teams: no guard or leader of this site is in team {team!r}"
                )
        if robot.secret_ref is not None and robot.kind != "dingtalk":
            problems.append(f"{where}.secret_ref: only a DingTalk robot signs its requests")
        if robot.url is not None and not robot.url.startswith(("http://", "https://")):
            problems.append(f"{where}.url: not an http:// or https:// URL: {robot.url!r}")
    return problems


def robot_secret_problems(sites: Sequence[SiteEntry], known: Container[str]) -> list[str]:
    """Every secret reference of the robots in ``sites`` that is not in ``known`` (the names set
    in ``GATEWAY_ROBOT_SECRETS``), each with its place."""
    problems: list[str] = []
    for i, site in enumerate(sites):
        for j, robot in enumerate(site.robots):
            where = _where(i, j, robot)
            for field, ref in (
                ("webhook_ref", robot.webhook_ref),
                ("secret_ref", robot.secret_ref),
            ):
                if ref is not None and ref not in known:
                    problems.append(
                        f"{where}.{field}: secret {ref!r} is not set in {ROBOT_SECRETS_SETTING}"
                    )
    return problems


def robot_rows(site: SiteEntry) -> Iterator[dict[str, Any]]:
    """The ``robots`` table rows of ``site``'s robots."""
    for robot in site.robots:
        yield {
            "id": robot.id,
            "site_id": site.id,
            "name": robot.name,
            "kind": robot.kind,
            "webhook_ref": robot.webhook_ref,
            "secret_ref": robot.secret_ref,
            "url": robot.url,
            "teams": list(robot.teams),
            "leader_ids": list(robot.leaders),
        }
