"""Database layer: configuration, the local PostGIS cluster, typed models and migrations."""
