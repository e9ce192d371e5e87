"""Job functions the tests enqueue; they live in a module because the worker must import them."""

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
