"""Benchmarks: scripts that print figures. They are not tests and `make test` does not run them."""
