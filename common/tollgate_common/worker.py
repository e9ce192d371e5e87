"""RQ worker entry point: one queue per service, jobs run inside the service's app context."""

from __future__ import annotations

from typing import Any

import structlog
from flask import Flask
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer

from .jobs import get_queue
from .logs import bind_request_id


class AppContextMixin:
    """Run each job inside the app context, with the request id of the request that queued it."""

    app: Flask

    def perform_job(self, job: Job, queue: Queue) -> bool:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(service=self.app.config["SETTINGS"].service_name, job_id=job.id)
        bind_request_id(job.meta.get("request_id"))
        with self.app.app_context():
            # A forked work horse must not reuse connections opened by its parent.
            self.app.extensions["db"].engine.dispose(close=False)
            return super().perform_job(job, queue)  # type: ignore[misc]


class AppWorker(AppContextMixin, Worker):
    """Forks a work horse per job, so a crashing or leaking job cannot take the worker down."""


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in-process; used by tests and by `--burst` one-shot runs."""


def record_last_error(job: Job, exc_type: type[BaseException], exc_value: BaseException, _traceback: Any) -> bool:
    """Keep the latest failure on the job (RQ keeps none for a job that will be retried)."""
    job.meta["last_error"] = f"{exc_type.__name__}: {exc_value}"
    job.save_meta()
    return True


def build_worker(app: Flask, queue_name: str, *, simple: bool = False, **kwargs: Any) -> Worker:
    connection = app.extensions["redis"]
    worker_cls = AppSimpleWorker if simple else AppWorker
    worker = worker_cls(
        [get_queue(queue_name, connection)],
        connection=connection,
        serializer=JSONSerializer,
        exception_handlers=[record_last_error],
        **kwargs,
    )
    worker.app = app
    return worker


def run_worker(app: Flask, queue_name: str, *, burst: bool = False) -> None:
    """Work the queue until stopped; the scheduler releases jobs waiting to retry."""
    build_worker(app, queue_name).work(burst=burst, with_scheduler=True)
