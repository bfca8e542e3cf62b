"""Benchmarks of the demo and the pipeline: see benchmarks/NOTES.md (run benchmarks/bench.py)."""
