"""The data contract of a cluster audit: the full-data profile, and the entity counted exactly."""

from __future__ import annotations

from charter.audit import DatasetProfile
from charter.data import Dataset
from charter.scale._sources import ClusterData
from charter.spec import Charter, DataContract, infer_contract

__all__ = ["contract_on_cluster"]


def contract_on_cluster(
    charter: Charter, data: ClusterData, profile: DatasetProfile
) -> DataContract:
    """What the audited data looks like, from the merged profile; the entity's uniqueness is
    counted exactly on the cluster (a sample cannot tell)."""
    entity = charter.data.entity
    unique = True
    if entity is not None and entity in data.schema.names:
        from dask.base import compute

        column = data.frame[entity].dropna()
        present, distinct = compute(column.count(), column.nunique())
        unique = bool(present == distinct)
    columns = Dataset.from_arrow(data.schema.empty_table())
    return infer_contract(charter, columns, profile, entity_unique=unique)
