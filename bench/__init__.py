"""Benchmarks: ratios measured side by side in one run on the local stack (`make bench`)."""
