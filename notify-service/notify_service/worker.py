"""RQ worker for the `notify` queue: `notify-worker` (add --burst to drain and exit)."""

import sys

from tollgate_common.worker import run_worker

from . import create_app


def main() -> None:
    run_worker(create_app(), "notify", burst="--burst" in sys.argv[1:])
