"""Benchmarks: one line per figure, each a ratio of our code against the raw database doing the
same work in the same run (docs/architecture.md "Layers"). Run `python -m bench small|full` from the repo
root with DATABASE_URL pointing at PostgreSQL; see bench/README.md."""
