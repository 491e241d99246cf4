"""Device drivers: one package per protocol, a pure ``codec`` and a ``driver`` doing the I/O."""
