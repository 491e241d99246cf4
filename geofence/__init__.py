"""Fence geometry: datums, metric projection, spatial index and accuracy-aware membership.

Depends on shapely and the standard library only; never imports ``gateway``.
"""
