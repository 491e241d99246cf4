"""Simulated ZKTeco clock-in terminals: one that pushes ATTLOG over HTTP (``push_terminal``) and
one that answers the binary protocol on TCP (``binary_terminal``).

The wire encoding (``wire``) is written from the protocol documentation, independently of the
gateway's codecs, so that an error in one shows up against the other and the golden corpus.
"""
