"""The outbox: events written in the same transaction as the state change, delivered later.

* ``cloudevents``: the CloudEvents 1.0 envelope, deterministic ids, canonical JSON.
* ``writer``: ``enqueue()``, inside the caller's transaction, idempotent.
* ``passes``: the background thread every delivery worker runs on.
* ``delivery``: ``DeliveryWorker`` (order per subject, back-off, refused events set aside).
* ``backlog``: ``backlog()``, what waits, fails and was refused, for /health and /metrics.
* ``refused``: the events a destination refused for their content: listed, sent again.
* ``senders``: the ``Sender`` port and ``HttpCoreSender`` (signed POST to the core).
* ``signing``: ``X-Signature-256`` HMAC-SHA256 signing and verification.
* ``tables``: the outbox rows, and the group robots configured by site files.
* ``routing``: which group robots an event goes to (besides the core).
* ``record``: a gateway run without a core keeps its events as the record, waiting for none.
* ``robots``: the robots' targets (with their secrets) and the WeCom / DingTalk senders.
* ``robot_messages``, ``robot_templates``, ``robot_context``: what a leaders' group reads, in
  Chinese; digests.
* ``robot_delivery``: ``RobotDeliveryWorker``, a cap per group per minute, digests, SOS first.
"""
