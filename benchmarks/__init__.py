"""Benchmarks of the engine and the GREP11 server against their baselines.

``python -m benchmarks`` runs them; see BENCHMARKS.md for the figures and how to read them.
"""
