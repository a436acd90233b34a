"""The runtime layer: probes that run code in the target."""
