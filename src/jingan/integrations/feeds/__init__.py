"""Synthetic district-scale sources for the supervision platform and their feed simulator.

``synthetic`` generates any day of any source dataset on its own, deterministically;
``simulator`` serves those days over HTTP in the feeds' wire format.
"""
