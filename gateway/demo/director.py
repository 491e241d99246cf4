"""The leaders' and the field's side of the demo, on the demo clock: reports, leaves and
cancellations entered through the API with each leader's own token, checkpoint tags held to the
EM4100 readers, and punches pushed by the ZKTeco terminal, each at its scripted time
(``gateway.demo.cast``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from fwsim.em4100 import SimulatedEm4100Reader
from fwsim.zkteco.push_terminal import PushTerminal
from gateway.clock import Clock
from gateway.demo.cast import (
    CAST,
    CHECKPOINTS,
    CLOCK_IN_SERIAL,
    PATROL_ACTIONS,
    PINS,
    PUNCH_ACTIONS,
    Action,
    leader_of,
)

__all__ = ["Director"]

TZ = ZoneInfo("Asia/Shanghai")


class Director(threading.Thread):
    """Plays the cast's actions, the patrol scans and the punches at their scripted times,
    printing a ``··`` line for each."""

    def __init__(
        self,
        api_url: str,
        leader_tokens: dict[str, str],
        clock: Clock,
        shift_start: datetime,
        out: Callable[[str], None],
        readers: list[SimulatedEm4100Reader],
    ) -> None:
        super().__init__(name="demo-director", daemon=True)
        self._client = httpx.Client(base_url=api_url, timeout=10)
        self._tokens = leader_tokens
        self._terminal = PushTerminal(api_url, CLOCK_IN_SERIAL)
        self._readers = readers
        self._clock = clock
        self._start = shift_start
        self._out = out
        self._halt = threading.Event()
        self._leaves: dict[str, str] = {}

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self._client.close()
        self._terminal.close()

    def run(self) -> None:
        scripted = [(action, actor.guard_id) for actor in CAST for action in actor.actions]
        scripted += [(action, "g-004") for action in PATROL_ACTIONS]
        scripted += [(action, "") for action in PUNCH_ACTIONS]
        plan = sorted(scripted, key=lambda pair: pair[0].at_min)
        try:
            self._terminal.handshake()
        except httpx.HTTPError as exc:
            self._out(f"director: clock-in terminal handshake failed: {exc}")
        for action, guard_id in plan:
            if not self._sleep_until(self._start + timedelta(minutes=action.at_min)):
                return
            try:
                self._act(action, guard_id)
            except httpx.HTTPError as exc:
                self._out(f"director: {action.kind} for {guard_id} failed: {exc}")

    def _sleep_until(self, when: datetime) -> bool:
        while not self._halt.is_set():
            remaining = (when - self._clock.now()).total_seconds()
            if remaining <= 0:
                return True
            self._halt.wait(min(0.5, remaining / self._clock.rate))
        return False

    def _as(self, guard_id: str) -> dict[str, str]:
        """The headers of a request made by the guard's leader (his token)."""
        return {"Authorization": f"Bearer {self._tokens[leader_of(guard_id)]}"}

    def _at(self, minutes: float) -> str:
        return (self._start + timedelta(minutes=minutes)).isoformat()

    def _act(self, action: Action, guard_id: str) -> None:
        now_local = self._clock.now().astimezone(TZ)
        p = action.params
        if action.kind == "report":
            # A report phoned in earlier is typed in now, dated when it was made.
            made_min = p.get("reported_min", action.at_min)
            body = {
                "guard_id": guard_id,
                "reported_at": self._at(made_min),
                "expected_return_at": self._at(made_min + p["minutes"]),
                "destination": p.get("destination"),
                "reported_to": leader_of(guard_id),
            }
            self._client.post("/reports", json=body, headers=self._as(guard_id)).raise_for_status()
            what = f"leader enters a verbal report (报备) by {guard_id}: back in {p['minutes']} min"
            if made_min != action.at_min:
                what += f", phoned in at {self._at(made_min)[11:16]}"
        elif action.kind == "leave":
            body = {
                "guard_id": guard_id,
                "starts_at": self._at(p["start_min"]),
                "ends_at": self._at(p["end_min"]),
                "approved_by": leader_of(guard_id),
                "reason": p.get("reason"),
            }
            reply = self._client.post("/leaves", json=body, headers=self._as(guard_id))
            reply.raise_for_status()
            self._leaves[guard_id] = reply.json()["id"]
            what = (
                f"leave approved for {guard_id}: "
                f"{p['end_min'] - p['start_min']:g} min from {self._at(p['start_min'])[11:16]}"
            )
        elif action.kind == "cancel":
            leave_id = self._leaves[p["of"]]
            cancel = self._client.post(
                f"/leaves/{leave_id}/cancel", json={}, headers=self._as(p["of"])
            )
            cancel.raise_for_status()
            what = f"leader enters: {guard_id} cancels his leave (销假)"
        elif action.kind == "scan":
            _cp_id, name, tag = CHECKPOINTS[p["checkpoint"]]
            self._readers[p["checkpoint"]].send(p.get("tag", tag))
            if "tag" in p:
                what = f"a tag nobody holds ({p['tag']}) is read at checkpoint {name}"
            else:
                what = f"{guard_id} holds his tag reader to checkpoint {name}"
        else:
            pins = [PINS[g] for g in p.get("guards", ())] or [p["pin"]]
            for pin in pins:
                self._terminal.punch(pin, now_local.replace(tzinfo=None), status=0, verify=1)
            acknowledged = self._terminal.push()
            what = f"clock-in terminal pushes {len(pins)} check-in(s), {acknowledged} acknowledged"
        self._out(f"{now_local:%H:%M:%S}  ·· {what}")
