"""Benchmarks of the real paths; results land in `.cache/bench/*.json`."""
