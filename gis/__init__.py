"""Spatial logic: grid codes, point-in-grid assignment, coordinate systems, grid files."""
