"""The networks: the four original architectures, the one checkpoint loader, weight discovery, devices."""
