"""Benchmarks of autosred: `make bench` / `python -m bench.run [--quick] [--only PARTS]`;
results in BENCHMARKS.md.

Modules:

- `bench.run`: the command line; runs every measurement and writes the report.
- `bench.daemon`: starts and stops the simulator and the daemon (static engine) for a run.
- `bench.competitors`: installs (under bench/, git-ignored), starts and stops LiteLLM's proxy
  and claude-code-router in front of the same simulator.
- `bench.routes`: the routes to the simulator (direct, the daemon's OpenAI, Messages and
  Responses surfaces, the competitors) and the request each sends; what an "event" is.
- `bench.client`: a minimal HTTP/1.1 streaming client on asyncio streams (the load generator's).
- `bench.loadgen`: the load generator, always run in its own process (`python -m bench.loadgen`).
- `bench.load`: the parent side of the load generator (spawn, follow its events, collect).
- `bench.scenarios`: the measurements (throughput per route, added TTFB, daemon RSS).
- `bench.ctl`: autosrectl start-up time and import-time offenders.
- `bench.kube`: the kubernetes engine against the fake k3s: pod Ready to the first byte at a
  held client, and the daemons' CPU use while idle with their model at zero.
- `bench.procinfo`: /proc readings (RSS, CPU time) and the machine description.
- `bench.stats`: median and percentiles.
- `bench.profile`: py-spy the daemon under load on one route.
- `bench.report`: the Markdown report and its place in BENCHMARKS.md.

Benchmarks measure; they never assert. The test suite does not import this package.
"""
