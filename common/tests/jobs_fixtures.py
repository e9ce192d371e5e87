"""Job functions the tests enqueue; they live in a module because the worker must import them."""

from rq import get_current_job

from tollgate_common.jobs import report_progress
from tollgate_common.logs import current_request_id


def echo(value):
    return value


def context_request_id():
    return current_request_id()


def count_to(total):
    for done in range(1, total + 1):
        report_progress(done, total, "counted")
    return total


def fail():
    raise ValueError("carrier said no")


def fail_once(flag_key):
    """Fail on the first run, succeed on the next: a crash followed by a rerun."""
    attempt = get_current_job().connection.incr(flag_key)
    if attempt == 1:
        raise RuntimeError("worker died")
    return f"done on attempt {attempt}"
