"""Data sources as DuckDB relations and Arrow tables."""

from charter.data._dataset import DATASET, Dataset, SourceInfo, quote_identifier

__all__ = ["DATASET", "Dataset", "SourceInfo", "quote_identifier"]
