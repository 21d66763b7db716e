"""Benchmarks of the local endpoint and the workshop: they print figures, never assert."""
