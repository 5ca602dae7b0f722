"""Benchmarks: scripts that measure the biobank, results in BENCHMARKS.md."""
