"""Alias kept for older commands: ``python -m helpers.local …`` runs :mod:`localaws`."""
