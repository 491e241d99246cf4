"""Scenario files: load, plan, and play them.

Site-day files (``day_spec``: a site, GPS terminals, readers, clock-in terminals, leaders' API
actions, gateway kills and restarts, expected events) are played against a gateway by
``fwsim check`` (``check``); terminal-only files (``loader``) by ``fwsim gps``, field-only ones
(``field_spec``) by ``fwsim field``. See docs/scenarios.md."""

from fwsim.scenario.command import add_gps_command, run_gps
from fwsim.scenario.loader import load_scenario, parse_scenario
from fwsim.scenario.model import Scenario, ScenarioError, TerminalSpec
from fwsim.scenario.plan import Publication, plan_scenario, plan_terminal
from fwsim.scenario.runner import ScenarioRunner, TerminalStats, parse_broker_url

__all__ = [
    "Publication",
    "Scenario",
    "ScenarioError",
    "ScenarioRunner",
    "TerminalSpec",
    "TerminalStats",
    "add_gps_command",
    "load_scenario",
    "parse_broker_url",
    "parse_scenario",
    "plan_scenario",
    "plan_terminal",
    "run_gps",
]
