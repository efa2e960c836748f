"""Benchmarks against the emulator with its real rate limit: `make bench` writes BENCHMARKS.md."""
