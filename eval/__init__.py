"""KGQA evaluation: datasets, metrics and runs."""
