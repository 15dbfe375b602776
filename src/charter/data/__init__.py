"""Data sources as DuckDB relations and Arrow tables."""

from charter.data._databases import redact_url
from charter.data._dataset import DATASET, Dataset, SourceInfo, quote_identifier
from charter.data._open import check_columns, open_dataset, read_file

__all__ = [
    "DATASET",
    "Dataset",
    "SourceInfo",
    "check_columns",
    "open_dataset",
    "quote_identifier",
    "read_file",
    "redact_url",
]
