"""Results of read functions as tables for the generated pages: a list of objects is a
table with one column per key, an object a two-column table, anything else one value."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_ROWS = 500
MAX_COLUMNS = 20


@dataclass
class Table:
    kind: str  # "rows" (columns + rows), "pairs" (key, value rows), "value", "empty"
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    value: str = ""
    truncated: bool = False

    @property
    def labelled_rows(self) -> list[list[tuple[str, str]]]:
        """Each row's cells with their column (narrow screens stack a row as label: value)."""
        return [list(zip(self.columns, row, strict=False)) for row in self.rows]


def cell(value: Any) -> str:
    """A value as one line of text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "✓" if value else "✗"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def table(value: Any) -> Table:
    if value is None or value == [] or value == {}:
        return Table(kind="empty")
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        columns: list[str] = []
        for item in value[:MAX_ROWS]:
            for key in item:
                if key not in columns and len(columns) < MAX_COLUMNS:
                    columns.append(str(key))
        rows = [[cell(item.get(c)) for c in columns] for item in value[:MAX_ROWS]]
        return Table(kind="rows", columns=columns, rows=rows, truncated=len(value) > MAX_ROWS)
    if isinstance(value, list):
        return Table(kind="rows", columns=[""], rows=[[cell(v)] for v in value[:MAX_ROWS]],
                     truncated=len(value) > MAX_ROWS)
    if isinstance(value, dict):
        items = list(value.items())
        return Table(kind="pairs", rows=[[str(k), cell(v)] for k, v in items[:MAX_ROWS]],
                     truncated=len(items) > MAX_ROWS)
    return Table(kind="value", value=cell(value))
