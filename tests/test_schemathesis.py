"""The public API against its own `/openapi.json`: schemathesis drives every documented operation
over real HTTP and checks that nothing answers 5xx or breaks its documented status codes and schemas."""

from pathlib import Path

import pytest
import schemathesis
from conftest import MIGRATED
from hypothesis import HealthCheck, Phase, given, settings
from redis import Redis
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from stack import Stack, stack_environment

from gateway.openapi import routed_operations
from tollgate_common.testing import REDIS_BASE_URL, claim_redis_database

FUZZ_ADMIN_KEY = "tg_fuzz-admin-key-0123456789abcdef"
FUZZ_INTERNAL_TOKEN = "fuzz-internal-token-0123456789"
SEED = 20261125
EXAMPLES_PER_OPERATION = 15
MAX_WAIT_SECONDS = 1
"""No balance worker runs here, so a cron call must not wait for autobill or autosuspend to finish."""


@pytest.fixture(scope="module")
def fuzz_stack(database_url_for, tmp_path_factory):
    """A stack of its own (databases and Redis index too), so generated servers, packages and runs stay here."""
    index, claim = claim_redis_database()
    redis_url = f"{REDIS_BASE_URL}/{index}"
    Redis.from_url(redis_url).flushdb()
    urls = {name: database_url_for(f"fuzz_{name}", migrations) for name, migrations in MIGRATED.items()}
    running = Stack(
        stack_environment(urls, redis_url, FUZZ_ADMIN_KEY, FUZZ_INTERNAL_TOKEN),
        logs=Path(tmp_path_factory.mktemp("fuzz-logs")),
    )
    try:
        running.start(["gateway", "cdr", "rating", "balance", "notify", "cdr-worker"])
        yield running
    finally:
        running.stop()
        Redis.from_url(redis_url).flushdb()
        claim.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_stack):
    config = SchemathesisConfig.from_dict({"seed": SEED, "generation": {"database": "none"}})
    return schemathesis.openapi.from_url(f"{fuzz_stack.gateway_url}/openapi.json", config=config, timeout=10)


def exercise(operation, mode: GenerationMode) -> None:
    """Send `EXAMPLES_PER_OPERATION` generated calls to `operation`; raise on the first broken check."""

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case):
        if isinstance((case.query or {}).get("wait"), int):
            case.query["wait"] = min(case.query["wait"], MAX_WAIT_SECONDS)
        case.call_and_validate(
            headers={"Authorization": f"Bearer {FUZZ_ADMIN_KEY}"},
            timeout=10,
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
        )

    call()


def test_every_operation_answers_as_documented(api_schema):
    """Generated calls, valid and invalid, to every operation get no 5xx and answers that match the
    documented status codes and response schemas."""
    failures = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                exercise(operation, mode)
            except (Exception, FailureGroup) as exc:  # collect every operation's failure, not only the first
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert operations == len(routed_operations())
    assert not failures, "\n\n".join(failures)
