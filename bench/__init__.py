"""Benchmarks against the provider simulator: ``python -m bench`` (see docs/benchmarks.md)."""
