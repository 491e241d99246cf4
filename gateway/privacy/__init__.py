"""Personal data under PIPL: retention purges, and one guard's data exported or erased."""
