"""The synthetic sample district: generator (no database), loader and ``load-sample`` command."""
