"""The demo: the sample Wuhan site, ten simulated guards, an accelerated clock, a core stub."""
