"""Checks: pure functions from an Inventory (and options) to Findings. None of them starts a process."""
