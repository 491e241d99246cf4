"""Leaders' actions of a site-day scenario, sent to the gateway's HTTP API with their tokens.

Each leader acts with his own bearer token (``fwsim.scenario.check`` issues one per leader of
the site, role ``leader``, scoped to his site and team). What an action sends is listed in
``fwsim.scenario.day_actions``. A refused request (not 2xx) or an alert not found is an
``ActionFailed`` naming the action and the API's answer: the check reports it as a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx

from fwsim.scenario.day_actions import Action
from fwsim.wand import SimulatedWand

__all__ = ["ActionFailed", "LeaderApi"]


class ActionFailed(RuntimeError):
    """The API refused an action, or the alert it names was not found."""


def _iso(when: datetime) -> str:
    return when.isoformat()


class LeaderApi:
    """Performs the API actions against ``base_url`` with the leaders' ``tokens`` (id -> token).
    Leaves are remembered by the ``name`` a scenario gave them, for ``cancel_leave``; the
    ``wands`` the guards carry keep their touches until a leader downloads them."""

    def __init__(
        self,
        base_url: str,
        tokens: dict[str, str],
        timeout_s: float = 10.0,
        wands: Mapping[str, SimulatedWand] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.base_url = base_url
        self.tokens = tokens
        self.timeout_s = timeout_s
        self.leaves: dict[str, str] = {}
        self.wands = dict(wands or {})
        self.now = now
        """The scenario's clock: a wand's clock is read as its download is sent."""

    def _send(
        self,
        action: Action,
        method: str,
        path: str,
        body: Any = None,
        *,
        text: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        token = self.tokens.get(action.args["by"])
        if token is None:
            raise ActionFailed(f"{action.describe()}: no leader {action.args['by']!r} in the site")
        try:
            response = httpx.request(
                method,
                self.base_url + path,
                json=body,
                content=text,
                params=params,
                headers={
                    "Authorization": f"Bearer {token}",
                    **({"Content-Type": "text/csv"} if text is not None else {}),
                },
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise ActionFailed(f"{action.describe()}: {method} {path}: {exc}") from exc
        if not response.is_success:
            raise ActionFailed(
                f"{action.describe()}: {method} {path} -> {response.status_code} {response.text}"
            )
        return response.json()

    def perform(self, action: Action) -> str:
        """Send ``action``; a short description of what the API answered."""
        a = action.args
        if action.kind in ("wand_touch", "wand_download"):
            return self._wand(action)
        if action.kind == "report":
            body: dict[str, Any] = {
                "guard_id": a["guard"],
                "reported_at": _iso(a.get("reported_at", action.at)),
                "reported_to": a["by"],
            }
            if "expected_return_at" in a:
                body["expected_return_at"] = _iso(a["expected_return_at"])
            body.update({k: a[k] for k in ("destination", "reason") if k in a})
            result = self._send(action, "POST", "/reports", body)
            return f"report {result.get('id')}"
        if action.kind == "leave":
            body = {
                "guard_id": a["guard"],
                "starts_at": _iso(a["starts"]),
                "ends_at": _iso(a["ends"]),
                "approved_by": a["by"],
            }
            if "approved_at" in a:
                body["approved_at"] = _iso(a["approved_at"])
            body.update({k: a[k] for k in ("destination", "reason") if k in a})
            result = self._send(action, "POST", "/leaves", body)
            self.leaves[a.get("name", a["guard"])] = str(result["id"])
            return f"leave {result['id']}"
        if action.kind == "cancel_leave":
            leave_id = self.leaves.get(a["leave"])
            if leave_id is None:
                raise ActionFailed(f"{action.describe()}: no leave named {a['leave']!r} yet")
            body = {"cancelled_at": _iso(a["cancelled_at"])} if "cancelled_at" in a else {}
            self._send(action, "POST", f"/leaves/{leave_id}/cancel", body)
            return f"leave {leave_id} cancelled"
        alert = self._find_alert(action)
        if action.kind == "acknowledge":
            body = {"by": a["by"], **({"note": a["note"]} if "note" in a else {})}
            self._send(action, "POST", f"/alerts/{alert}/acknowledge", body)
            return f"alert {alert} acknowledged"
        self._send(action, "POST", f"/alerts/{alert}/resolve", {"by": a["by"], "note": a["note"]})
        return f"alert {alert} resolved"

    def _wand(self, action: Action) -> str:
        wand = self.wands.get(action.args["wand"])
        if wand is None:
            raise ActionFailed(f"{action.describe()}: no wand {action.args['wand']!r} in 'wands'")
        if action.kind == "wand_touch":
            wand.touch(action.args["tag"], action.at)
            return f"{len(wand.records)} kept"
        result = self._send(
            action,
            "POST",
            f"/wands/{wand.wand_id}/downloads",
            text=wand.log_csv(),
            params={"wand_clock": wand.clock(self.now() if self.now else action.at).isoformat()},
        )
        return f"{result['stored']} stored, {result['duplicates']} again"

    def _find_alert(self, action: Action) -> int:
        """The id of the guard's newest alert of the action's type."""
        guard, kind = action.args["guard"], action.args["alert"]
        alerts = self._send(action, "GET", f"/alerts?guard_id={guard}&limit=1000")
        for alert in alerts:  # newest first
            if alert["type"] == kind:
                return int(alert["id"])
        raise ActionFailed(f"{action.describe()}: {guard} has no {kind} alert")
