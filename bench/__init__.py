"""Load benchmarks for EduFlow: `make bench` (or `python -m bench --help`).

Not part of the test suite. The parts: a bounded load generator (`loadgen`), a gunicorn
launcher (`server`), a bulk data generator (`datagen`), the scenarios (`scenarios`), and the
output table appended to docs/benchmarks.md (`report`). `cli` ties them together.
"""
