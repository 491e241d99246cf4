"""Running one gateway as several processes: partitions of the guards, leases, fencing."""
