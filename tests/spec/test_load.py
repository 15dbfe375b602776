from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.errors import SpecError
from charter.spec import DatabaseSource, FileSource, load_charter, parse_charter

MINIMAL = "project: churn\ntarget: churned\ndata: {sources: {customers: data/customers.csv}}\n"


def test_minimal_charter_loads_with_defaults():
    charter = parse_charter(MINIMAL)
    assert charter.target == "churned"
    assert charter.data.sources["customers"] == FileSource(path="data/customers.csv")
    assert charter.monitoring.drift.psi == 0.2
    assert charter.owner is None


def test_full_sketch_from_design_loads():
    text = """
project: churn
owner: Retention team
problem: Which customers will cancel next month?
decision: Offer a retention discount to customers flagged as likely to cancel
task: classification
target: churned
positive_class: "yes"
data:
  sources:
    customers: data/customers.parquet
    usage: {url: "postgresql://${PGUSER}@localhost/crm", query: "select * from usage"}
  query: select * from customers join usage using (customer_id)
  entity: customer_id
  time: snapshot_date
  sensitive: [gender, age_band]
success:
  metric: net_value
  value: {true_positive: 300, false_positive: -50, false_negative: 0, true_negative: 0}
  beat_baseline_by: 10%
baseline:
  rule: "contract = 'monthly' and tenure < 12"
constraints: {latency_ms_p99: 50, explanations: required, max_fairness_gap: 0.1}
monitoring: {drift: {psi: 0.2}, retrain_when: [drift, decay]}
"""
    charter = parse_charter(text, environ={"PGUSER": "ana"})
    usage = charter.data.sources["usage"]
    assert isinstance(usage, DatabaseSource)
    assert usage.url == "postgresql://ana@localhost/crm"
    assert charter.success.beat_baseline_by == pytest.approx(0.10)
    assert charter.success.value is not None and charter.success.value.false_positive == -50
    assert charter.constraints.max_fairness_gap == 0.1
    assert charter.special_columns == {"churned", "customer_id", "snapshot_date"}


def test_missing_environment_variable_names_key_line_and_fix():
    text = MINIMAL.replace("data/customers.csv", '"${DATA_DIR}/customers.csv"')
    with pytest.raises(SpecError) as error:
        parse_charter(text, source="c.yaml", environ={})
    message = str(error.value)
    assert "c.yaml:3" in message
    assert "data.sources.customers" in message
    assert "DATA_DIR" in message and "export DATA_DIR" in message


def test_environment_default_is_used_when_variable_is_unset():
    text = MINIMAL.replace("data/customers.csv", '"${DATA_DIR:-/srv}/customers.csv"')
    charter = parse_charter(text, environ={})
    assert charter.data.sources["customers"] == FileSource(path="/srv/customers.csv")


def test_wrong_type_names_key_line_expected_and_example():
    text = (
        MINIMAL
        + "success:\n  value: {true_positive: lots, false_positive: 1, false_negative: 0, true_negative: 0}\n"
    )
    with pytest.raises(SpecError) as error:
        parse_charter(text, source="charter.yaml")
    message = str(error.value)
    assert "charter.yaml:5: success.value.true_positive: expected a number, got 'lots'" in message
    assert "example: value: {true_positive: 300" in message


def test_misspelt_key_is_reported_with_its_line():
    with pytest.raises(SpecError, match=r"charter.yaml:4: tsk: is not a charter key"):
        parse_charter(MINIMAL + "tsk: classification\n")


def test_missing_required_key_is_reported():
    with pytest.raises(SpecError, match=r"target: is required but missing"):
        parse_charter("project: churn\ndata: {sources: {a: a.csv}}\n")


def test_bad_choice_lists_allowed_values():
    with pytest.raises(
        SpecError, match=r"task: expected one of 'classification' or 'regression', got 'forecast'"
    ):
        parse_charter(MINIMAL + "task: forecast\n")


def test_invalid_yaml_names_the_line():
    with pytest.raises(
        SpecError, match=r"charter.yaml:3: not valid YAML: .*flow sequence that starts on line 2"
    ):
        parse_charter("project: a\ntarget: [unclosed\n")


def test_same_column_in_two_roles_is_refused():
    with pytest.raises(SpecError, match="data.entity and target both name column 'churned'"):
        parse_charter(MINIMAL.replace("}}\n", "}, entity: churned}\n"))


def test_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(SpecError, match="charter init"):
        load_charter(tmp_path / "charter.yaml")


def test_a_mapping_is_required(tmp_path):
    path = tmp_path / "charter.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="YAML mapping"):
        load_charter(path)


@given(st.floats(min_value=0, max_value=500, allow_nan=False).map(lambda x: round(x, 3)))
def test_percent_and_fraction_forms_agree(percent):
    as_percent = parse_charter(MINIMAL + f"success: {{beat_baseline_by: '{percent}%'}}\n")
    as_fraction = parse_charter(MINIMAL + f"success: {{beat_baseline_by: {percent / 100!r}}}\n")
    assert as_percent.success.beat_baseline_by == pytest.approx(
        as_fraction.success.beat_baseline_by
    )


def test_misspelt_key_gets_a_suggestion_and_problems_come_in_line_order():
    text = "project: a\ntarget: y\ndata: {sources: {a: a.csv}, entiti: x}\ntsk: c\n"
    with pytest.raises(SpecError) as error:
        parse_charter(text)
    message = str(error.value)
    assert "charter.yaml:3: data.entiti: is not a charter key (did you mean 'entity'?)" in message
    assert message.index("data.entiti") < message.index("tsk: is not")
