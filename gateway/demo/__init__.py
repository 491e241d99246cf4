"""The demo: the sample Wuhan site, thirteen simulated guards, an accelerated clock, a core stub."""
