"""What leaders read in their group stays within the robots' size limit: digests numbered in
order, an oversized message cut."""

from __future__ import annotations

from gateway.outbox.robot_messages import MAX_MESSAGE_BYTES, pack_digest, render, single
from tests.unit.outbox.test_robot_messages import TZ, event


def test_a_digest_numbers_events_in_order_and_stops_at_the_size_limit() -> None:
    texts = [
        render(
            event("alert.unreported_departure", started_at=f"2026-03-02T00:{m:02d}:00+00:00"), TZ
        )
        for m in range(60)
    ]
    first = pack_digest(texts)
    assert 10 < first.count < 60
    assert first.lines[0] == f"### 告警汇总 (digest) · {first.count} 条"
    assert first.lines[1].startswith("1. **未报备离岗** 赵军 (g-004) 于 08:00 离开")
    assert first.lines[first.count].startswith(f"{first.count}. ")
    assert len(first.markdown("\n\n").encode()) <= MAX_MESSAGE_BYTES
    rest = pack_digest(texts[first.count :])
    assert rest.lines[1].startswith(f"1. **未报备离岗** 赵军 (g-004) 于 08:{first.count:02d}")


def test_an_oversized_message_is_cut_to_the_limit() -> None:
    text = render(event("alert.device_left_behind", left_device_id="x" * 5000), TZ)
    markdown = single(text).markdown()
    assert len(markdown.encode()) <= MAX_MESSAGE_BYTES
    assert markdown.endswith("…")
