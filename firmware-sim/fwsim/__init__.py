"""Simulated devices speaking the real wire protocols, and a management-core stub."""
