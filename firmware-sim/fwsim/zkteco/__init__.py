"""Simulated ZKTeco clock-in terminals: one that pushes ATTLOG over HTTP (``push_terminal``) and
one that answers the binary protocol on TCP or UDP (``binary_terminal``: its tables in
``device``, its sockets in ``transport``, ``fwsim zk-terminal`` in ``command``).

The wire encoding (``wire``) is written from the protocol documentation, independently of the
gateway's codecs, so that an error in one shows up against the other and the golden corpus.
"""
