"""Monitoring (SPEC §6): history, watch lists, the scheduler and its re-check policy."""
