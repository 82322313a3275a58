"""Benchmarks: one module per question, each rerunnable with the command in its docstring."""
