"""Runnable aioneffos samples: ``python -m samples.<name> --port N`` from the repository root."""
