"""RQ worker for the `cdr` queue: `cdr-worker` (add --burst to drain and exit)."""

import sys

from tollgate_common.worker import run_worker

from . import create_app


def main() -> None:
    """Run the worker for the `cdr` queue."""
    run_worker(create_app(), "cdr", burst="--burst" in sys.argv[1:])
