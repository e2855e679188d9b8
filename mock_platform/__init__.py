"""The mock short-video platform: the system the harness attacks.

It never imports ``harness``; the harness knows it only through its topology file and HTTP.
"""
