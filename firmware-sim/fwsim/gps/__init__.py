"""Simulated GPS terminals: the fix record, wire encoders for each format, and the motion model.

Encoders are written from the protocol specifications, independently of the gateway's decoders.
"""

from fwsim.gps.encoders import FORMATS, EncoderOptions, Message, TerminalEncoder, make_encoder
from fwsim.gps.fix import SimFix
from fwsim.gps.motion import FixSampler, Leg, NoiseModel, Track

__all__ = [
    "FORMATS",
    "EncoderOptions",
    "FixSampler",
    "Leg",
    "Message",
    "NoiseModel",
    "SimFix",
    "TerminalEncoder",
    "Track",
    "make_encoder",
]
