"""The one rule for a cell written into a file a spreadsheet may open (CSV now, XLSX later):
text that a spreadsheet would run as a formula is kept as text (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable

# A spreadsheet starts a formula at any of these; tab and CR are on OWASP's list because
# some programs drop them and read what follows as the cell's start.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 32_768


def safe_cell(value: object) -> object:
    """`value` as it may go into a cell: text that starts like a formula gets a leading
    apostrophe (spreadsheets show it as text and hide the apostrophe); numbers, None and
    other text pass unchanged, so a negative number stays a number."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Iterable[object]) -> list[object]:
    return [safe_cell(value) for value in row]


async def csv_chunks(
    header: Iterable[str], rows: AsyncIterator[Iterable[object]]
) -> AsyncIterator[str]:
    """A CSV file, header first, in chunks of about CHUNK characters, every cell through
    safe_cell: what every CSV export of the service streams."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(safe_row(header))
    async for row in rows:
        writer.writerow(safe_row(row))
        if buffer.tell() > CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
