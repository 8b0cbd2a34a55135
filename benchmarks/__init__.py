"""snoopbench benchmarks: the harness, metrics, reports, the CLI and the performance suites."""
