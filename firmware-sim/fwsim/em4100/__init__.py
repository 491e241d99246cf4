"""A simulated 125 kHz EM4100 reader on a pseudo-terminal."""

from fwsim.em4100.reader import SimulatedEm4100Reader, encode_frame

__all__ = ["SimulatedEm4100Reader", "encode_frame"]
