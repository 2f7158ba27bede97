"""On-demand benchmark harness (not part of the test suite). See docs/benchmarks.md."""
