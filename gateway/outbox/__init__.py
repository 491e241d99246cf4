"""The outbox: events written in the same transaction as the state change, delivered later.

* ``cloudevents``: the CloudEvents 1.0 envelope, deterministic ids, canonical JSON.
* ``writer``: ``enqueue()``, inside the caller's transaction, idempotent.
* ``delivery``: ``DeliveryWorker`` (order per subject, back-off) and ``backlog()``.
* ``senders``: the ``Sender`` port and ``HttpCoreSender`` (signed POST to the core).
* ``robots``: WeCom / DingTalk group-robot senders for alerts.
* ``signing``: ``X-Signature-256`` HMAC-SHA256 signing and verification.
"""
