"""Benchmarks: one module per question, each runnable with ``python -m benchmarks.<name>``."""
