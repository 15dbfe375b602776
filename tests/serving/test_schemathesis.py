"""Fuzzing the running service from its own OpenAPI document: a client's mistake is never a 500.

Schemathesis reads /openapi.json from a live service on 127.0.0.1 and sends generated requests to
every operation: valid ones, and broken ones (wrong types, values outside the schema's ranges,
missing fields, bad query parameters). Every answer must not be a server error, must use a status
code and content type the document names, and must match the document's response schema; broken
input must be refused (4xx; 413 counts, as a list longer than maxItems is also over the size limit).
Generation is derandomised so a run is repeatable.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from typer.testing import CliRunner

from charter.cli import app

runner = CliRunner()
REFUSALS = ["400", "401", "403", "404", "405", "406", "413", "415", "422"]
FUZZ = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
schema = schemathesis.pytest.from_fixture("service_schema")


@pytest.fixture(scope="module")
def feedback_key(live) -> str:
    """A key that may post feedback, so generated feedback reaches the checks behind the key."""
    result = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--scope",
            "feedback",
            "--name",
            "fuzzer",
            "--charter",
            str(live.project.path),
        ],
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def service_schema(live):
    config = SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}}
    )
    loaded = schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config)
    operations = {(op.ok().method.upper(), op.ok().path) for op in loaded.get_all_operations()}
    assert operations >= {
        ("POST", "/v1/predict"),
        ("POST", "/v1/feedback"),
        ("GET", "/v1/health"),
        ("GET", "/v1/ready"),
        ("GET", "/v1/model"),
        ("GET", "/v1/model/card"),
        ("GET", "/metrics"),
    }
    return loaded


def call(case, live, key: str, checks: list) -> None:
    case.call_and_validate(
        base_url=live.url,
        headers={"Authorization": f"Bearer {key}"},
        checks=checks,
        timeout=30,
    )


@pytest.mark.slow
@schema.parametrize()
@FUZZ
def test_no_generated_request_is_a_server_error_or_breaks_the_document(case, live, feedback_key):
    call(
        case,
        live,
        feedback_key,
        [
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


@pytest.mark.slow
@schema.exclude(path="/v1/predict").parametrize()
@FUZZ
def test_what_the_document_forbids_is_refused(case, live, feedback_key):
    call(case, live, feedback_key, [not_a_server_error, negative_data_rejection])


@pytest.mark.slow
@schema.include(path="/v1/predict").parametrize()
@FUZZ
def test_what_the_document_forbids_in_a_record_is_refused(case, live, feedback_key):
    """The record schema documents exactly what the service checks: anything it forbids is refused."""
    call(case, live, feedback_key, [not_a_server_error, negative_data_rejection])
