"""The data path: decoded records → identity → filters → geofence → rules → outbox.

One worker thread owns the rule states, so records of one guard are processed in order and no
lock is needed around them; transports and the API hand work to it through a queue
(``runtime``). The stages are one ordered list over a per-batch context, built and explained in
``stages``; ``processor`` runs it in one transaction per batch.
"""
