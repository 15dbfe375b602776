"""Data quality: missing values, codes for 'unknown', wrong types, duplicates, odd columns.

The profile answers most questions; what it lacks, every check asks of one query over the data
(`_quality_plan`), so the pass costs about one scan beyond the profile. A small second query
runs only when a problem is found or two columns must be compared. The checks live by theme:
`_quality_missing` (missing values, placeholders, sentinels), `_quality_text` (types stored as
text, spellings), `_quality_duplicates` (rows, entities, re-encoded columns) and
`_quality_columns` (constant, high-cardinality, identifier and outlying values).
"""

from __future__ import annotations

from charter.audit._context import AuditContext
from charter.audit._findings import Finding
from charter.audit._quality_columns import (
    find_constant,
    find_high_cardinality,
    find_identifiers,
    find_outliers,
)
from charter.audit._quality_duplicates import (
    find_duplicate_entity,
    find_duplicate_rows,
    find_reencoding,
)
from charter.audit._quality_missing import find_missing, find_placeholders, find_sentinels
from charter.audit._quality_plan import prepare
from charter.audit._quality_text import find_spelling, find_text_types
from charter.audit._target import edge_facts

__all__ = ["check_quality"]


def check_quality(ctx: AuditContext) -> list[Finding]:
    """Findings about the data's quality, column by column and across columns.

    Checks: quality.missing, .placeholder, .sentinel, .capped, .type_as_text,
    .duplicate_rows, .duplicate_entity, .constant, .reencoding, .high_cardinality,
    .identifier, .outliers and .spelling. Problems of the target are `check_target`'s.
    """
    if ctx.profile.rows == 0:
        return []
    plan = prepare(ctx)
    plan.run()
    for name in plan.fences:
        results = {stat: v for (column, stat), v in plan.results.items() if column == name}
        plan.edges[name] = edge_facts(plan.columns[name], results)
    checks = (
        find_missing,
        find_placeholders,
        find_sentinels,
        find_text_types,
        find_duplicate_rows,
        find_duplicate_entity,
        find_constant,
        find_reencoding,
        find_high_cardinality,
        find_identifiers,
        find_outliers,
        find_spelling,
    )
    return [finding for check in checks for finding in check(plan)]
