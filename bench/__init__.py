"""Benchmarks of autosred: `make bench` / `python -m bench.run [--quick]`; results in BENCHMARKS.md.

Modules:

- `bench.run`: the command line; runs every measurement and writes the report.
- `bench.daemon`: starts and stops the simulator and the daemon (static engine) for a run.
- `bench.client`: a minimal HTTP/1.1 streaming client on asyncio streams (the load generator's).
- `bench.loadgen`: the load generator, always run in its own process (`python -m bench.loadgen`).
- `bench.load`: the parent side of the load generator (spawn, follow its events, collect).
- `bench.scenarios`: the measurements (relay throughput, added TTFB, daemon RSS).
- `bench.ctl`: autosrectl start-up time and import-time offenders.
- `bench.procinfo`: /proc readings (RSS, CPU time) and the machine description.
- `bench.stats`: median and percentiles.
- `bench.report`: the Markdown report and its place in BENCHMARKS.md.

Benchmarks measure; they never assert. The test suite does not import this package.
"""
