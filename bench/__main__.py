"""python -m bench small|full [MODULE ...] — needs DATABASE_URL=postgres://... (the server; the benchmark
creates and drops its own database, `epigrid_bench` or $BENCH_DATABASE). Naming modules (reads,
imports, monitoring, response, gates, login, export, dashboard, verification, backup, partitions, audit) runs only
those, after the city is built."""

import os
import sys
import time

from .city import SCALES
from .db import BenchDatabase, setup_django
from .report import line, note

MODULES = (
    "reads",
    "imports",
    "monitoring",
    "response",
    "gates",
    "scale",
    "login",
    "export",
    "dashboard",
    "verification",
    "backup",
    "partitions",
    "audit",
)
USAGE = f"usage: python -m bench small|full [{'|'.join(MODULES)} ...]   (DATABASE_URL=postgres://user@host:port/db)"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SCALES or any(name not in MODULES for name in argv[1:]):
        print(USAGE, file=sys.stderr)
        return 2
    scale = SCALES[argv[0]]
    database = BenchDatabase(os.environ.get("DATABASE_URL", ""))
    started = time.perf_counter()
    note(f"scale {scale.name}: creating database {database.name}")
    database.create()
    try:
        setup_django(database.url)
        # Imported only now: they need Django set up.
        import importlib

        from django.db import connections

        from . import city

        chosen = argv[1:] or MODULES

        with database.connect(autocommit=True) as raw:
            start = time.perf_counter()
            counts = city.build(raw, scale)
            seconds = time.perf_counter() - start
            line(
                f"city scale={scale.name} nodes={counts['grids_gridnode']} households={counts['people_household']} "
                f"persons={counts['people_person']} places={counts['grids_place']} "
                f"assignments={counts['accounts_gridassignment']} build={seconds:.1f}s "
                f"rate={counts['people_person'] / seconds:.0f} persons/s OK"
            )
            for name in chosen:
                module = importlib.import_module(f"bench.{name}")
                # Every module's contract is run(scale, raw) printing its own lines, but imports
                # also takes the city's buildings.
                if name == "imports":
                    module.run(scale, city.building_codes(scale), raw)
                else:
                    module.run(scale, raw)
        connections.close_all()
    finally:
        if os.environ.get("BENCH_KEEP"):
            note(f"kept database {database.name} (BENCH_KEEP)")
        else:
            database.drop()
    note(f"done in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
