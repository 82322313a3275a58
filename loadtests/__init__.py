"""Locust load tests comparing latency and throughput of the layer configurations."""
