"""Benchmarks: each prints ratios against a naive reference measured in the same run."""
