"""The generated very wide scenario project (see generate.py and README.md)."""
