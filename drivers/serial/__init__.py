"""Serial lines opened by URL (pyserial's ``serial_for_url``), read by a self-healing thread."""

from drivers.serial.transport import SerialConfig, SerialReader, TransportStats, open_serial

__all__ = ["SerialConfig", "SerialReader", "TransportStats", "open_serial"]
