"""Open-WikiTable-shaped tables: the paper's Table Retriever.

Tables are linearised the way the paper's table retriever reads them, so a
model trained on our step data sees the same passage format as on theirs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1router.errors import DataError
from r1router.kb.kinds.base import KBKind


def linearize_table(record: dict[str, Any]) -> str:
    """The paper's table passage, byte for byte as its table retriever returned them (the released `tar` passages).

    `[Table name]` is Open-WikiTable's `original_table_id`; a table without one
    (the demo world's) is named by its record id.
    """
    rows = "".join("[Row]" + "[sep]".join(row) for row in record["rows"])
    return (
        f"[Title]{record['page_title']}[Section title]{record['section_title']}[Caption]{record['caption']}"
        f"[Table name]{record.get('table_id') or record['id']}[Header]{'[sep]'.join(record['header'])}[Rows]{rows}"
    )


class TableKind(KBKind):
    name = "table"
    retriever = "Table Retriever"
    tag = "tar"
    encoder = "text"
    fields = {"id": str, "page_title": str, "section_title": str, "caption": str, "header": list, "rows": list}  # noqa: RUF012
    optional_fields = {"table_id": str}  # noqa: RUF012  # Open-WikiTable's original_table_id

    def validate_extra(self, record: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
        header = _string_list(record["header"], path, line, "header")
        if not header:
            raise DataError(path, "a table needs at least one column", line=line, field="header")
        rows = record["rows"]
        if not isinstance(rows, list | tuple) or not rows:
            raise DataError(path, "expected a non-empty list of rows", line=line, field="rows")
        clean_rows = []
        for i, row in enumerate(rows):
            cells = _string_list(row, path, line, f"rows[{i}]")
            if len(cells) != len(header):
                raise DataError(
                    path, f"row has {len(cells)} cells but the header has {len(header)}", line=line, field=f"rows[{i}]"
                )
            clean_rows.append(cells)
        return {**record, "header": header, "rows": clean_rows}

    def passage(self, record: dict[str, Any]) -> str:
        return linearize_table(record)


def _string_list(value: Any, path: Path, line: int, field: str) -> list[str]:
    if not isinstance(value, list | tuple) or hasattr(value, "keys"):
        raise DataError(path, f"expected a list of strings, got {type(value).__name__}", line=line, field=field)
    for cell in value:
        if not isinstance(cell, str):
            raise DataError(path, f"expected strings, found {type(cell).__name__}", line=line, field=field)
    return list(value)
