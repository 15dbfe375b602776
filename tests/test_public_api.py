import subprocess
import sys

import charter


def test_top_level_names_are_pinned():
    assert sorted(charter.__all__) == [
        "CharterError",
        "ContractError",
        "DataSourceError",
        "Project",
        "SpecError",
        "UsageError",
        "__version__",
    ]


def test_project_is_the_python_api():
    from charter.api import Project

    assert charter.Project is Project


def test_import_charter_stays_light():
    code = "import sys, charter; print(any(m in sys.modules for m in ('lightgbm', 'sklearn', 'duckdb')))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "False"


def test_every_error_is_a_charter_error():
    for error in (
        charter.SpecError,
        charter.DataSourceError,
        charter.ContractError,
        charter.UsageError,
    ):
        assert issubclass(error, charter.CharterError)
