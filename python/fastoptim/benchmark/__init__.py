"""Benchmark harness: timing, contenders (fastoptim and its peers) and the bandwidth roof.

Used by ``fastoptim bench`` and the scripts in the repository's ``bench/`` folder.
"""
