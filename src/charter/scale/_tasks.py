"""Functions run over a cluster's partitions, and their partial results merged in a fixed tree."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from charter.errors import UsageError

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

__all__ = ["current_client", "each", "merged", "tree_reduce"]

_FAN_IN = 8
"""Partial results merged per task."""


def current_client() -> Client:
    """The Dask client the calling code opened (`charter.scale.connect`)."""
    from distributed import get_client

    try:
        return get_client()
    except ValueError as exc:
        raise UsageError(
            "running on a cluster needs a Dask client: open one with "
            "charter.scale.connect(parse_cluster('local:4')) or a scheduler address"
        ) from exc


def tree_reduce(parts: Sequence[Any], merge: Callable[..., Any]) -> Any:
    """Delayed `merge` of the parts, `_FAN_IN` at a time in a fixed order (a deterministic tree,
    so the same partitions always give the same result, floating-point sums included)."""
    from dask.delayed import delayed

    level = list(parts)
    while len(level) > 1:
        level = [delayed(merge)(*level[i : i + _FAN_IN]) for i in range(0, len(level), _FAN_IN)]
    return level[0]


def merged(
    frame: dd.DataFrame, function: Callable[..., Any], *args: Any, combine: Callable[..., Any]
) -> Any:
    """`function(partition, *args)` on every partition, merged on the workers by `combine`."""
    from dask.base import compute
    from dask.delayed import delayed

    parts = [delayed(function)(p, *args) for p in frame.to_delayed()]
    return compute(tree_reduce(parts, combine))[0]


def each(frame: dd.DataFrame, function: Callable[..., Any], *args: Any) -> list[Any]:
    """`function(partition, *args)` of every partition, in partition order."""
    from dask.base import compute
    from dask.delayed import delayed

    return list(compute(*[delayed(function)(p, *args) for p in frame.to_delayed()]))
