"""guard-gateway: the hardware edge of a security company's management platform.

Devices (GPS terminals, patrol checkpoints, clock-in terminals) become records; records become
"know where they are" events delivered to the management core.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
