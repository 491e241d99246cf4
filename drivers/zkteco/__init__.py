"""ZKTeco clock-in terminals, both ways they talk.

* ``push_codec`` / ``push_router``: the HTTP "PUSH" (ADMS, ``/iclock/...``) protocol that newer
  firmware speaks to a server it is configured with; the gateway is that server.
* ``binary_codec`` / ``driver``: the binary protocol on TCP/UDP 4370 where the gateway is the
  client (connect, read the attendance log, register for live events); ``binary_punches`` makes
  its records punches.
* ``semantics``: punch states and verify modes (kept apart) and the stable identity of a punch.
"""
