"""The prediction service as a client meets it, over real HTTP on 127.0.0.1.

Answers, validation, humility, keys, feedback and the prediction log, each checked against what a
user relies on and, where numbers are involved, against an independent computation: the model's
own `predict` on rows read by the training code, the charter's baseline rule evaluated here by
hand, the contract file read here.
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import expit
from typer.testing import CliRunner

from charter.cli import app
from charter.serving._feedback import read_feedback
from charter.serving._log import read_log

runner = CliRunner()

TARGET = "churned"
ENTITY = "customer_id"
NUMBERS = (
    "tenure_months",
    "monthly_charges",
    "minutes_used",
    "data_gb",
    "support_calls",
    "logins_last_month",
)
NULLABLE = (  # as the conftest made them
    "minutes_used",
    "data_gb",
    "support_calls",
    "logins_last_month",
    "region",
    "region_code",
    "payment_method",
    "total_charges",
)
WORDS = {True: "act", False: "no action"}


def cli(charter: Path, *args: str):
    """`charter ARGS --charter CHARTER` in this process."""
    return runner.invoke(app, [*args, "--charter", str(charter)], env={"COLUMNS": "250"})


def contract_of(charter: Path) -> dict[str, Any]:
    return yaml.safe_load((charter.parent / "contract.yaml").read_text(encoding="utf-8"))


def features_of(live) -> list[str]:
    production = live.project.version("production")
    return list(live.project.registry().load(production).scoring["features"])


def threshold_of(live) -> float:
    return float(live.project.registry().threshold(live.project.version("production")))


def by_entity(records: list[dict[str, Any]], answers: list[dict[str, Any]]) -> dict[int, Any]:
    return {r[ENTITY]: a for r, a in zip(records, answers, strict=True)}


def rule(record: dict[str, Any]) -> bool:
    """The demo charter's baseline rule, "contract = 'monthly' and tenure_months < 12", by hand."""
    return record["contract"] == "monthly" and record["tenure_months"] < 12


@pytest.fixture(scope="module")
def typical(serving_rows, json_record) -> dict[str, Any]:
    """A record well inside the data: every number between its 10th and 90th percentile."""
    bounds = {
        name: (
            float(np.percentile([r[name] for r in serving_rows], 10)),
            float(np.percentile([r[name] for r in serving_rows], 90)),
        )
        for name in NUMBERS
    }
    for row in serving_rows:
        if (
            all(lo <= row[n] <= hi for n, (lo, hi) in bounds.items())
            and row["contract"] in ("monthly", "annual")
            and row["total_charges"].strip()
        ):
            return json_record(row)
    raise AssertionError("no typical row in the sample")


@pytest.fixture(scope="module")
def data_ranges(serving_template) -> dict[str, tuple[float, float]]:
    """The smallest and largest value of each number feature in the whole data set (DuckDB)."""
    from charter.api import Project
    from charter.data import DATASET

    dataset = Project(serving_template.charter).dataset()
    found = {}
    for name in NUMBERS:
        low, high = dataset.sql(f"SELECT min({name}), max({name}) FROM {DATASET}")[0]
        found[name] = (float(low), float(high))
    return found


# --- answers ---------------------------------------------------------------------------------


def check_answer(answer: dict[str, Any], version: int, threshold: float) -> None:
    """What every classification answer carries, and that its decision follows its score."""
    assert re.fullmatch(r"[0-9a-zA-Z_-]{8,64}", answer["prediction_id"])
    assert answer["version"] == version
    score = answer["score"]
    assert isinstance(score, float) and 0.0 <= score <= 1.0
    assert answer["decision"] in ("act", "no action")
    assert isinstance(answer["flags"], list)
    assert all(isinstance(f, str) for f in answer["flags"])
    if not answer.get("fallback"):
        assert answer["decision"] == WORDS[score >= threshold]


def test_one_record_gets_one_answer(live, typical, serving_template):
    response = live.predict(typical)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert isinstance(answer, dict)
    check_answer(answer, serving_template.boosted, threshold_of(live))
    assert answer["flags"] == []
    assert answer["fallback"] is False
    assert "reasons" not in answer  # only when asked


def test_a_list_gets_a_list_in_the_same_order(live, serving_records, serving_template):
    records = serving_records[:40]
    forward = live.predict(records)
    backward = live.predict(records[::-1])
    assert forward.status_code == backward.status_code == 200
    answers, reversed_answers = forward.json(), backward.json()
    assert len(answers) == len(reversed_answers) == 40
    threshold = threshold_of(live)
    for answer in answers:
        check_answer(answer, serving_template.boosted, threshold)
    assert [a["score"] for a in answers] == [a["score"] for a in reversed_answers[::-1]]
    ids = [a["prediction_id"] for a in answers + reversed_answers]
    assert len(set(ids)) == 80, "every answer has its own prediction id"
    # each record sent alone gets the score it got in the list
    for index in (0, 17, 39):
        alone = live.predict(records[index]).json()
        assert alone["score"] == answers[index]["score"]


def test_scores_are_the_models_own_and_the_batch_scores(
    live, serving_rows, serving_records, serving_template, model_scores, tmp_path
):
    rows, records = serving_rows[:200], serving_records[:200]
    response = live.predict(records)
    assert response.status_code == 200
    answers = by_entity(records, response.json())
    # the model's own predictions on the same rows, read by the training code
    expected = model_scores(live.project, serving_template.boosted, rows, tmp_path / "frames")
    assert set(expected) == set(answers)
    for entity, answer in answers.items():
        assert answer["score"] == pytest.approx(expected[entity], abs=1e-9), entity
    # batch scoring of the same rows gives the same scores and decisions
    source = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), source)
    result = live.project.score(source, tmp_path / "scored.parquet", log=False)
    assert (result.rows, result.scored, result.quarantined) == (200, 200, 0)
    scored = pq.read_table(tmp_path / "scored.parquet").to_pylist()
    assert len(scored) == 200
    for row in scored:
        answer = answers[row[ENTITY]]
        assert row["score"] == pytest.approx(answer["score"], abs=1e-12)
        assert row["decision"] == answer["decision"]
        assert row["version"] == answer["version"]


def test_explain_gives_reasons_in_words_naming_the_strongest_features(
    live, serving_rows, serving_records, serving_template, model_frame, tmp_path
):
    rows, records = serving_rows[:8], serving_records[:8]
    response = live.predict(records, explain="true")
    assert response.status_code == 200
    answers = by_entity(records, response.json())
    features = features_of(live)
    # independent: tree SHAP from the model itself; effects in probability points, as documented
    loaded, frame = model_frame(live.project, serving_template.boosted, rows, tmp_path / "frames")
    contributions = loaded.model.contributions(frame)
    order = list(loaded.model.features_)
    for i, entity in enumerate(frame.groups):
        answer = answers[int(entity)]
        reasons = answer["reasons"]
        assert 1 <= len(reasons) <= 3
        for reason in reasons:
            assert isinstance(reason, str)
            named = [f for f in features if reason.startswith(f"{f} = ")]
            assert len(named) == 1, reason
            assert re.search(r"\b(raised|lowered)\b", reason), reason
            assert not set(reason) & set("{}[]"), reason
        raw = contributions[i].sum()
        effects = 100 * (expit(raw) - expit(raw - contributions[i, :-1]))
        strongest = order[int(np.argmax(np.abs(effects)))]
        assert reasons[0].startswith(f"{strongest} = ")
        verb = "raised" if effects[order.index(strongest)] > 0 else "lowered"
        assert f" {verb} " in reasons[0]
    plain = live.predict(records[:2], explain="false").json()
    assert all("reasons" not in a for a in plain)


def test_health_ready_model_and_metrics(live, serving_template, typical):
    assert live.client.get("/v1/health").json() == {"status": "ok"}
    ready = live.client.get("/v1/ready")
    assert ready.status_code == 200 and ready.json()["version"] == serving_template.boosted
    model = live.client.get("/v1/model").json()
    assert model["version"] == serving_template.boosted
    assert model["candidate"] == "boosted"
    assert model["threshold"] == pytest.approx(threshold_of(live))
    assert set(model["contract"]["columns"]) == set(
        contract_of(serving_template.charter)["columns"]
    )
    card = live.client.get(model["card"])
    assert card.status_code == 200 and "text/html" in card.headers["content-type"]
    before = live.client.get("/metrics").text
    live.predict({"gender": "female"})  # refused: the other required fields are missing
    answers = live.predict([typical, dict(typical, tenure_months=-15), typical]).json()
    after = live.client.get("/metrics")
    assert after.status_code == 200
    assert "text/plain" in after.headers["content-type"]

    def grew(name: str, **labels: str) -> float:
        return metric(after.text, name, **labels) - metric(before, name, **labels)

    assert grew("charter_requests_total", endpoint="predict", status="422") == 1
    assert grew("charter_requests_total", endpoint="predict", status="200") == 1
    assert grew("charter_validation_failures_total", field="tenure_months") == 1
    assert grew("charter_predictions_total", version=str(serving_template.boosted)) == 3
    assert grew("charter_humility_flags_total", flag="out_of_range") == 1
    assert grew("charter_score_count") == 3
    assert grew("charter_score_sum") == pytest.approx(sum(a["score"] for a in answers))
    assert grew("charter_request_seconds_count", endpoint="predict") == 1


def metric(text: str, name: str, **labels: str) -> float:
    """A sample's value in a Prometheus exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_service_without_production_says_503_then_serves_once_promoted(
    serving_demo, serve, typical
):
    from charter.api import Project

    admin = Project(serving_demo.charter)
    admin.registry().remove_alias("churn", "production", actor="tester", reason="start empty")
    live = serve(serving_demo, reload_seconds=0.3)
    assert live.client.get("/v1/health").status_code == 200
    assert live.client.get("/v1/ready").status_code == 503
    assert live.client.get("/v1/model").status_code == 503
    waiting = live.predict(typical)
    assert waiting.status_code == 503 and "promote" in waiting.json()["detail"]
    assert live.predict([]).status_code == 422  # a bad body is still the client's mistake
    assert admin.promote(serving_demo.boosted).moved
    deadline = time.monotonic() + 5
    while live.client.get("/v1/ready").status_code != 200:
        assert time.monotonic() < deadline, "the promotion was not picked up within 5 s"
        time.sleep(0.1)
    answer = live.predict(typical)
    assert answer.status_code == 200 and answer.json()["version"] == serving_demo.boosted


# --- validation ------------------------------------------------------------------------------

MISSING = object()
# field, the value sent (distinctive: it must not come back), what the problem says, and what
# the expected text must mention (from the contract file)
BAD_VALUES = {
    "wrong type": ("tenure_months", "zq-tenure-4417", "expected an integer", "integer"),
    "out of range": ("monthly_charges", 98765.4321, "above the maximum", "max"),
    "below range": ("monthly_charges", -7654.321, "below the minimum", "min"),
    "unknown category": ("contract", "zebra-contract-5521", "not one of", "monthly"),
    "missing required": ("gender", MISSING, "required", "female"),
    "null required": ("age_band", None, "required", "30-44"),
    "bool is not a number": ("support_calls", True, "expected an integer", "integer"),
    "text is not a date": ("signup_date", "yesterday-8812", "expected", "date"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES), ids=list(BAD_VALUES))
def test_a_bad_record_is_refused_naming_record_field_and_expectation(
    live, serving_records, serving_template, case
):
    field, value, problem, mention = BAD_VALUES[case]
    bad = dict(serving_records[2])
    if value is MISSING:
        del bad[field]
    else:
        bad[field] = value
    records = [serving_records[0], serving_records[1], bad, serving_records[3]]
    response = live.predict(records)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail == [
        {
            "record": 2,
            "field": field,
            "problem": detail[0]["problem"],
            "expected": detail[0]["expected"],
        }
    ]
    assert problem in detail[0]["problem"]
    rule = contract_of(serving_template.charter)["columns"][field]
    if mention in ("min", "max"):
        assert f"{rule[mention]}" in detail[0]["expected"]
    else:
        assert mention in detail[0]["expected"]
    if value is not MISSING and value is not None and not isinstance(value, bool):
        shown = str(value)
        assert shown not in response.text and shown[:6] not in response.text
    # one record alone: the same problem, as record 0
    alone = live.predict(bad)
    assert alone.status_code == 422
    assert [(d["record"], d["field"]) for d in alone.json()["detail"]] == [(0, field)]


def test_every_bad_field_of_every_record_is_named(live, serving_records):
    first = dict(serving_records[0], tenure_months="x-1", contract="nope-2")
    third = dict(serving_records[2], monthly_charges=1e9)
    response = live.predict([first, serving_records[1], third])
    assert response.status_code == 422
    named = {(d["record"], d["field"]) for d in response.json()["detail"]}
    assert named == {(0, "tenure_months"), (0, "contract"), (2, "monthly_charges")}


def test_the_document_describes_exactly_the_fields_the_service_checks(live, serving_records):
    document = live.client.get("/openapi.json").json()
    body = document["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    record_schema = body["schema"]["oneOf"][0]
    scoring = live.project.registry().load(live.project.version("production")).scoring
    checked = {*scoring["features"], live.project.charter.data.entity}
    assert set(record_schema["properties"]) == checked
    assert "null" in record_schema["properties"]["customer_id"]["type"]  # the entity may be empty
    # A column the model does not read (the charter's time column) is neither documented nor checked.
    response = live.predict(dict(serving_records[0], snapshot_date="not-a-date-6620"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"tenure_months": 12', 400),
        (b"\xff\xfe\x00garbage", 400),
        (b"", 400),
        (b'"just a string"', 422),
        (b"42", 422),
        (b"null", 422),
        (b"true", 422),
        (b"[]", 422),
        (b"[1, 2, 3]", 422),
        (b'[{"gender": "female"}, "text"]', 422),
    ],
    ids=[
        "broken",
        "truncated",
        "not utf-8",
        "empty body",
        "string",
        "number",
        "null",
        "boolean",
        "empty list",
        "list of numbers",
        "list with text",
    ],
)
def test_a_body_that_is_not_records_is_refused(live, body, status):
    response = live.client.post(
        "/v1/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], str | list)


@pytest.mark.parametrize(
    ("opening", "closing"), [("[", "]"), ('{"a": ', "}")], ids=["lists", "objects"]
)
def test_a_deeply_nested_body_is_a_client_error(live, opening, closing):
    body = opening * 5000 + "1" + closing * 5000
    with httpx.Client(base_url=live.url, timeout=30.0) as client:
        response = client.post(
            "/v1/predict", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code in (400, 422)


def test_nan_and_infinity_are_refused(live, serving_records):
    record = json.dumps(serving_records[0])
    for spelled in ("NaN", "Infinity", "-Infinity"):
        body = record.replace('"monthly_charges": ', f'"monthly_charges": {spelled}, "_": ', 1)
        response = live.client.post(
            "/v1/predict", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (spelled, response.text)
        assert response.json()["detail"][0]["field"] == "monthly_charges"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12).map(lambda t: f"Zq{t}"),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.dictionaries(
        st.sampled_from(
            [
                "tenure_months",
                "monthly_charges",
                "contract",
                "gender",
                "signup_date",
                "total_charges",
                "minutes_used",
                "region",
                ENTITY,
                "unknown_field",
            ]
        ),
        JSON_VALUES,
        min_size=1,
        max_size=3,
    ),
    drop=st.sets(st.sampled_from(["gender", "minutes_used", "contract"]), max_size=2),
)
def test_whatever_a_client_sends_in_a_field_is_never_a_server_error(
    live, serving_records, changes, drop
):
    record = {k: v for k, v in serving_records[5].items() if k not in drop}
    record.update(changes)
    response = live.predict([serving_records[4], record])
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        for answer in response.json():
            assert math.isfinite(answer["score"]) and 0 <= answer["score"] <= 1
    else:
        for item in response.json()["detail"]:
            assert item["record"] == 1
            assert set(item) == {"record", "field", "problem", "expected"}
    for value in changes.values():
        if isinstance(value, str) and len(value) >= 6:
            assert value not in response.text
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**6:
            assert str(value) not in response.text


@pytest.fixture
def limited(serving_demo, serve):
    """A service taking at most 5 records and 16 KB per request."""
    return serve(serving_demo, settings={"max_records": 5, "body_limit_kb": 16})


def test_too_many_records_are_refused(limited, serving_records):
    assert limited.predict(serving_records[:5]).status_code == 200
    response = limited.predict(serving_records[:6])
    assert response.status_code == 422
    assert "at most 5 records" in response.json()["detail"]


def padded(record: dict[str, Any], size: int) -> bytes:
    """`record` as JSON of exactly `size` bytes (a field the contract does not name pads it)."""
    base = json.dumps({**record, "note": ""}).encode()
    body = json.dumps({**record, "note": "x" * (size - len(base))}).encode()
    assert len(body) == size
    return body


def test_a_body_over_the_limit_gets_413_with_or_without_its_length(limited, serving_records):
    limit = 16 * 1024
    headers = {"content-type": "application/json"}
    at_limit = limited.client.post(
        "/v1/predict", content=padded(serving_records[0], limit), headers=headers
    )
    assert at_limit.status_code == 200, at_limit.text
    over = padded(serving_records[0], limit + 1)
    declared = limited.client.post("/v1/predict", content=over, headers=headers)
    assert declared.status_code == 413
    assert "16 KB" in declared.json()["detail"]

    def chunks(body: bytes, size: int = 1000) -> Iterator[bytes]:
        for start in range(0, len(body), size):
            yield body[start : start + size]

    small = limited.client.post(
        "/v1/predict", content=chunks(padded(serving_records[0], limit)), headers=headers
    )
    assert small.status_code == 200, small.text
    big = padded(serving_records[0], 4 * limit)
    chunked = limited.client.post("/v1/predict", content=chunks(big), headers=headers)
    assert chunked.status_code == 413
    assert "16 KB" in chunked.json()["detail"]
    # the service still answers afterwards
    assert limited.predict(serving_records[0]).status_code == 200
    feedback = limited.client.post("/v1/feedback", content=chunks(big), headers=headers)
    assert feedback.status_code in (401, 413)


# --- humility --------------------------------------------------------------------------------


def test_a_number_beyond_the_training_range_is_flagged(
    live, typical, data_ranges, serving_template
):
    rules = contract_of(serving_template.charter)["columns"]["tenure_months"]
    high, low = int(rules["max"]), int(rules["min"])
    # accepted by the contract, but beyond anything in the data the model learned from
    assert data_ranges["tenure_months"][1] < high and low < data_ranges["tenure_months"][0]
    answers = live.predict(
        [dict(typical, tenure_months=high), dict(typical, tenure_months=low), typical]
    ).json()
    assert [a["flags"] for a in answers] == [["out_of_range"], ["out_of_range"], []]
    assert all(a["fallback"] is False for a in answers)


def test_a_category_never_seen_in_training_is_flagged(live, typical, serving_template):
    assert "quarterly" in contract_of(serving_template.charter)["columns"]["contract"]["categories"]
    answers = live.predict([dict(typical, contract="quarterly"), typical]).json()
    assert [a["flags"] for a in answers] == [["unseen_category"], []]


def test_too_many_missing_features_are_flagged(live, typical):
    nulls = {name: None for name in NULLABLE}
    seven = dict(typical, **dict(list(nulls.items())[:7]))  # 7 of 14 features: not more than half
    eight = dict(typical, **nulls)
    absent = {k: v for k, v in typical.items() if k not in NULLABLE}
    answers = live.predict([seven, eight, absent]).json()
    assert [a["flags"] for a in answers] == [[], ["too_many_missing"], ["too_many_missing"]]
    assert all(0 <= a["score"] <= 1 for a in answers)


def test_flags_combine(live, typical):
    record = dict(typical, contract="quarterly", tenure_months=-15, **{n: None for n in NULLABLE})
    answer = live.predict(record).json()
    assert answer["flags"] == ["out_of_range", "unseen_category", "too_many_missing"]


@pytest.mark.parametrize("band", [(0.0, 1.0), (0.15, 0.35)])
def test_scores_in_the_uncertain_band_are_flagged(serving_demo, serve, serving_records, band):
    live = serve(serving_demo, settings={"uncertain_band": list(band)})
    answers = live.predict(serving_records[:100]).json()
    for answer in answers:
        inside = band[0] <= answer["score"] <= band[1]
        assert ("uncertain" in answer["flags"]) == inside
        assert answer["fallback"] is False  # the charter did not ask for a fallback
    if band == (0.0, 1.0):
        assert all("uncertain" in a["flags"] for a in answers)
    else:
        assert 0 < sum("uncertain" in a["flags"] for a in answers) < 100


def test_a_flagged_record_gets_the_baseline_rules_decision_when_the_charter_asks(
    serving_demo, serve, serving_records
):
    live = serve(serving_demo, settings={"fallback": "baseline"})
    threshold = threshold_of(live)
    plain = serving_records[:60]
    odd = [dict(r, tenure_months=-15) for r in plain[:30]]  # out of range: rule true if monthly
    odd += [dict(r, tenure_months=153) for r in plain[30:]]  # out of range: rule false
    odd += [
        dict(plain[0], contract="quarterly"),
        dict(plain[1], contract="monthly", tenure_months=3, **{n: None for n in NULLABLE}),
    ]
    answers = live.predict(plain + odd).json()
    model_disagrees = 0
    for record, answer in zip(plain + odd, answers, strict=True):
        model_word = WORDS[answer["score"] >= threshold]
        if answer["flags"]:
            assert answer["fallback"] is True
            assert answer["decision"] == WORDS[rule(record)], record
            model_disagrees += model_word != answer["decision"]
        else:
            assert answer["fallback"] is False
            assert answer["decision"] == model_word
    assert all(a["flags"] for a in answers[60:])
    assert model_disagrees > 0, "no flagged record where the rule and the model differ"
    fallbacks = metric(live.client.get("/metrics").text, "charter_fallback_decisions_total")
    assert fallbacks == sum(a["fallback"] for a in answers)


# --- keys ------------------------------------------------------------------------------------


def make_key(charter: Path, scope: str, name: str) -> str:
    result = cli(charter, "keys", "create", "--scope", scope, "--name", name)
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key and " " not in key
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_feedback_needs_a_key_whose_scope_allows_it(serving_demo, serve, serving_records):
    keys = {
        s: make_key(serving_demo.charter, s, f"{s} client")
        for s in ("predict", "feedback", "admin")
    }
    live = serve(serving_demo)
    answer = live.predict(serving_records[0]).json()  # predict needs no key by default
    item = {"prediction_id": answer["prediction_id"], "outcome": "yes"}
    post = lambda headers: live.client.post("/v1/feedback", json=item, headers=headers)  # noqa: E731
    assert post({}).status_code == 401
    assert post(bearer("ck_00000000_not-a-real-key")).status_code == 401
    assert post(bearer(keys["predict"])).status_code == 403
    accepted = post(bearer(keys["feedback"]))
    assert accepted.status_code == 200 and accepted.json()["accepted"] == 1
    admin = post({"X-API-Key": keys["admin"]})
    assert admin.status_code == 200 and admin.json()["repeated"] == 1
    for refused in (post({}), post(bearer(keys["predict"]))):
        assert keys["predict"] not in refused.text


def test_a_charter_can_make_predictions_need_a_key(serving_demo, serve, serving_records):
    keys = {s: make_key(serving_demo.charter, s, f"{s} client") for s in ("predict", "feedback")}
    live = serve(serving_demo, settings={"require_key": True})
    record = serving_records[0]
    assert live.predict(record).status_code == 401
    assert live.client.post("/v1/predict", json=record, headers=bearer("nope")).status_code == 401
    assert (
        live.client.post("/v1/predict", json=record, headers=bearer(keys["predict"])).status_code
        == 200
    )
    assert (
        live.client.post(
            "/v1/predict", json=record, headers={"X-API-Key": keys["feedback"]}
        ).status_code
        == 200
    )
    assert live.client.get("/v1/health").status_code == 200


def test_a_revoked_key_is_refused(serving_demo, serve, serving_records):
    key = make_key(serving_demo.charter, "feedback", "leaked laptop")
    item = {"entity": "7", "time": "2026-01-01T00:00:00Z", "outcome": "no"}
    first = serve(serving_demo)
    assert first.client.post("/v1/feedback", json=item, headers=bearer(key)).status_code == 200
    listed = cli(serving_demo.charter, "keys", "list", "--json")
    prefix = next(k["prefix"] for k in json.loads(listed.stdout) if k["name"] == "leaked laptop")
    assert key.startswith(f"ck_{prefix}_")
    revoked = cli(serving_demo.charter, "keys", "revoke", prefix)
    assert revoked.exit_code == 0, revoked.output
    first.service.close()
    fresh = serve(serving_demo)  # a running service forgets a revoked key within 30 s
    refused = fresh.client.post("/v1/feedback", json=item, headers=bearer(key))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]


# --- feedback --------------------------------------------------------------------------------


@pytest.fixture
def with_key(serving_demo, serve):
    """A service and a feedback key for it."""
    key = make_key(serving_demo.charter, "feedback", "crm")
    live = serve(serving_demo)
    live.client.headers.update(bearer(key))
    return live


def test_feedback_is_idempotent_and_corrections_count_as_updates(with_key, serving_records):
    live = with_key
    answers = live.predict(serving_records[:3]).json()
    pid = answers[0]["prediction_id"]
    send = lambda body: live.client.post("/v1/feedback", json=body)  # noqa: E731
    assert send({"prediction_id": pid, "outcome": "yes", "action_taken": True}).json() == {
        "accepted": 1,
        "repeated": 0,
        "updated": 0,
    }
    assert send({"prediction_id": pid, "outcome": "yes", "action_taken": True}).json() == {
        "accepted": 0,
        "repeated": 1,
        "updated": 0,
    }
    assert send({"prediction_id": pid, "outcome": "no", "action_taken": True}).json() == {
        "accepted": 0,
        "repeated": 0,
        "updated": 1,
    }
    batch = [
        {"prediction_id": answers[1]["prediction_id"], "outcome": "no"},
        {"prediction_id": answers[2]["prediction_id"], "outcome": "yes", "action_taken": False},
        {"prediction_id": pid, "outcome": "no", "action_taken": True},
    ]
    assert send(batch).json() == {"accepted": 2, "repeated": 1, "updated": 0}
    stored = {f["prediction_id"]: f for f in read_feedback(live.service.registry.store, "churn")}
    assert set(stored) == {a["prediction_id"] for a in answers}
    assert stored[pid]["outcome"] == "no" and stored[pid]["action_taken"] is True
    assert stored[answers[2]["prediction_id"]]["action_taken"] is False
    assert all(f["source"] == "api" for f in stored.values())


def test_feedback_with_an_unknown_label_is_refused_and_nothing_is_kept(with_key, serving_records):
    live = with_key
    pid = live.predict(serving_records[0]).json()["prediction_id"]
    good = {"prediction_id": pid, "outcome": "yes"}
    for bad, field in (
        ({"prediction_id": pid, "outcome": "maybe-later-3391"}, "outcome"),
        ({"prediction_id": pid, "outcome": {"nested": 1}}, "outcome"),
        ({"prediction_id": pid, "outcome": "yes", "action_taken": "sure-9917"}, "action_taken"),
        ({"outcome": "yes"}, "prediction_id"),
        ({"entity": "12", "time": "last tuesday-5512", "outcome": "yes"}, "time"),
    ):
        response = live.client.post("/v1/feedback", json=[good, bad])
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert {"item": 1, "field": field} == {k: detail[0][k] for k in ("item", "field")}
        for value in bad.values():
            if isinstance(value, str) and "-" in value:
                assert value not in response.text
    assert read_feedback(live.service.registry.store, "churn") == []


def test_feedback_by_entity_and_time(with_key):
    live = with_key
    item = {
        "entity": 4242,
        "time": "2026-01-31T10:00:00+01:00",
        "outcome": "yes",
        "action_taken": False,
    }
    assert live.client.post("/v1/feedback", json=item).json()["accepted"] == 1
    same_moment = dict(item, entity="4242", time="2026-01-31T09:00:00Z")
    assert live.client.post("/v1/feedback", json=same_moment).json()["repeated"] == 1
    (stored,) = read_feedback(live.service.registry.store, "churn")
    assert stored["entity"] == "4242" and stored["prediction_id"] is None
    assert stored["time"].startswith("2026-01-31T09:00:00")


def test_charter_feedback_records_a_csv_file(serving_demo, serve, serving_records, tmp_path):
    live = serve(serving_demo)
    answers = live.predict(serving_records[:4]).json()
    path = tmp_path / "outcomes.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prediction_id", "outcome", "action_taken"])
        for answer, outcome in zip(answers, ["yes", "no", "no", "yes"], strict=True):
            writer.writerow([answer["prediction_id"], outcome, "true"])
    first = cli(serving_demo.charter, "feedback", str(path))
    assert first.exit_code == 0, first.output
    assert "4 outcome(s) recorded, 0 already known, 0 corrected" in first.stdout
    again = cli(serving_demo.charter, "feedback", str(path), "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {"accepted": 0, "repeated": 4, "updated": 0}
    stored = read_feedback(live.service.registry.store, "churn")
    assert sorted(f["prediction_id"] for f in stored) == sorted(a["prediction_id"] for a in answers)
    assert all(f["source"] == "file" and f["action_taken"] is True for f in stored)
    bad = tmp_path / "bad.csv"
    bad.write_text("prediction_id,outcome\nabc,perhaps\n", encoding="utf-8")
    refused = cli(serving_demo.charter, "feedback", str(bad))
    assert refused.exit_code == 2
    assert "outcome" in refused.stderr and "Traceback" not in refused.output


# --- the prediction log ----------------------------------------------------------------------


def expected_input(value: Any, kind: str) -> Any:
    """What the log keeps for an input value, written out independently."""
    if value is None:
        return None
    if kind == "date":
        return float((date.fromisoformat(value) - date(1970, 1, 1)).days)
    if kind == "number":
        return float(value)
    return str(value)


def test_every_answered_record_is_logged_and_each_refused_one_as_refused(
    serving_demo, serve, serving_records, typical
):
    live = serve(serving_demo, reload_seconds=60)
    answered: list[tuple[dict[str, Any], dict[str, Any]]] = []
    one = live.predict(serving_records[0]).json()
    answered.append((serving_records[0], one))
    batch = serving_records[1:11]
    answered += list(zip(batch, live.predict(batch).json(), strict=True))
    explained = serving_records[11:14]
    answered += list(zip(explained, live.predict(explained, explain="true").json(), strict=True))
    flagged = dict(typical, customer_id=88_000_001, contract="quarterly", minutes_used=None)
    answered.append((flagged, live.predict(flagged).json()))
    refused_good = dict(serving_records[20], customer_id=99_000_001)
    refused_bad = dict(serving_records[21], customer_id=99_000_002, tenure_months="many")
    assert live.predict([refused_good, refused_bad]).status_code == 422
    assert live.predict(dict(refused_good, customer_id=99_000_003, gender=None)).status_code == 422
    live.service.close()  # a graceful stop writes everything

    everything = read_log(serving_demo.log_folder)
    refused = everything.filter(pc.is_valid(everything.column("problems"))).to_pylist()
    # A refused record is logged without its values: which fields broke the contract, no score.
    assert sorted((r["entity"], tuple(r["problems"])) for r in refused) == [
        ("99000002", ("tenure_months",)),
        ("99000003", ("gender",)),
    ]
    assert all(r["score"] is None and r["decision"] is None for r in refused)
    assert not any(k.startswith("x.") and r[k] is not None for r in refused for k in r)
    log = everything.filter(pc.is_null(everything.column("problems")))
    assert log.num_rows == len(answered) == 15
    rows = {r["prediction_id"]: r for r in log.to_pylist()}
    assert len(rows) == 15
    scoring = live.project.registry().load(live.project.version("production")).scoring
    kinds = scoring["feature_types"]
    for record, answer in answered:
        row = rows[answer["prediction_id"]]
        assert row["version"] == answer["version"]
        assert row["score"] == answer["score"]
        assert row["decision"] == answer["decision"]
        assert row["fallback"] == answer["fallback"]
        assert list(row["flags"]) == answer["flags"]
        assert row["source"] == "api" and row["project"] == "churn"
        assert row["entity"] == str(record[ENTITY])
        assert row["shadow_version"] is None
        for feature in scoring["features"]:
            assert row[f"x.{feature}"] == expected_input(record.get(feature), kinds[feature]), (
                feature
            )
    assert not {"99000001", "99000002", "99000003"} & {r["entity"] for r in rows.values()}


def test_a_shadow_version_scores_the_same_traffic_but_is_never_shown(
    serving_demo, serve, serving_rows, serving_records, model_scores, tmp_path
):
    live = serve(serving_demo, reload_seconds=60)
    before = live.predict(serving_records[:5]).json()
    attached = cli(serving_demo.charter, "shadow", f"v{serving_demo.simple}", "--reason", "try it")
    assert attached.exit_code == 0, attached.output
    live.service.refresh()
    records, rows = serving_records[5:45], serving_rows[5:45]
    response = live.predict(records)
    assert response.status_code == 200
    answers = response.json()
    assert "shadow" not in response.text
    assert all(a["version"] == serving_demo.boosted for a in answers)
    detached = cli(serving_demo.charter, "shadow", "--detach")
    assert detached.exit_code == 0, detached.output
    live.service.refresh()
    after = live.predict(serving_records[45:50]).json()
    live.service.close()

    logged = {r["prediction_id"]: r for r in read_log(serving_demo.log_folder).to_pylist()}
    assert len(logged) == 50
    shadow = model_scores(live.project, serving_demo.simple, rows, tmp_path / "frames")
    simple = live.project.version(serving_demo.simple)
    shadow_threshold = live.project.registry().threshold(simple)
    for record, answer in zip(records, answers, strict=True):
        row = logged[answer["prediction_id"]]
        assert row["version"] == serving_demo.boosted and row["score"] == answer["score"]
        assert row["shadow_version"] == serving_demo.simple
        assert row["shadow_score"] == pytest.approx(shadow[record[ENTITY]], abs=1e-9)
        assert row["shadow_decision"] == WORDS[row["shadow_score"] >= shadow_threshold]
    assert (
        statistics.mean(
            abs(logged[a["prediction_id"]]["shadow_score"] - a["score"]) for a in answers
        )
        > 1e-3
    ), "the shadow's scores are the production model's"
    for answer in before + after:
        row = logged[answer["prediction_id"]]
        assert row["shadow_version"] is None and row["shadow_score"] is None


def test_a_long_list_scored_column_by_column_matches_record_by_record(
    live, serving_records, typical
):
    """From 64 records a list is scored by columns; answers must equal those of the record path."""
    special = [
        dict(typical, contract="quarterly"),
        dict(typical, tenure_months=-15),
        dict(typical, **{n: None for n in NULLABLE}),
    ]
    records = [*special, *serving_records[:97]]
    together = live.predict(records)
    assert together.status_code == 200
    answers = together.json()
    assert len(answers) == 100
    alone = [live.predict(r).json() for r in records[:3] + records[50:53]]
    for mine, single in zip(answers[:3] + answers[50:53], alone, strict=True):
        assert mine["score"] == pytest.approx(single["score"], abs=1e-12)
        assert (mine["decision"], mine["flags"], mine["fallback"]) == (
            single["decision"],
            single["flags"],
            single["fallback"],
        )
    assert [a["flags"] for a in answers[:3]] == [
        ["unseen_category"],
        ["out_of_range"],
        ["too_many_missing"],
    ]
    assert len({a["prediction_id"] for a in answers}) == 100


def test_a_long_list_with_one_bad_record_names_it(live, serving_records):
    records = [dict(r) for r in serving_records[:80]]
    records[70]["tenure_months"] = "lots-7741"
    response = live.predict(records)
    assert response.status_code == 422
    assert [(d["record"], d["field"]) for d in response.json()["detail"]] == [(70, "tenure_months")]
    assert "lots-7741" not in response.text
