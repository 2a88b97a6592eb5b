"""Benchmarks: reproducible measurements against a named peer in the same run."""
