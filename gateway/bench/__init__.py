"""Benchmarks: how many messages per second the gateway and its parts sustain on this machine."""
