"""Rows of the web-server log of the ``logfile`` exercise, and the lab's CSV files holding them.

:class:`LogRow` has the ten columns of the original lab's CSV files (no header);
:func:`read_logfile_csv` and :func:`write_logfile_csv` read and write them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

TIMEZONE = "GMT-0700"


LOG_COLUMNS = (
    "requestid",
    "host",
    "date",
    "hourofday",
    "timezone",
    "method",
    "url",
    "responsecode",
    "bytessent",
    "useragent",
)


class DataDirError(ValueError):
    """The folder of CSV files given as ``data_dir`` is missing or unusable."""


@dataclass(frozen=True)
class LogRow:
    """One request of the web-server log, as one row of the lab's CSV files.

    Attributes
    ----------
    requestid : int
        Unique id of the request; the item key is ``request#<requestid>``.
    host : str
        Client IP address.
    date : str
        ``YYYY-MM-DD``.
    hourofday : int
        0-23 (written with two digits in the CSV files).
    timezone : str
        Always ``GMT-0700``.
    method : str
        HTTP method, ``GET`` nearly always.
    url : str
        Path and query string.
    responsecode : int
        HTTP status code.
    bytessent : int
        Size of the response body.
    useragent : str
        The client's ``User-Agent`` header.
    """

    requestid: int
    host: str
    date: str
    hourofday: int
    timezone: str
    method: str
    url: str
    responsecode: int
    bytessent: int
    useragent: str

    def to_item(self) -> dict[str, Any]:
        """Return the DynamoDB item the lab's loader writes for this row.

        The ten columns (numbers as ``int``), plus ``PK = "request#<id>"``,
        ``GSI_1_PK = "host#<host>"`` and, only when the response code is 500,
        the sparse attribute ``servererror = "5xx"``.

        Returns
        -------
        dict
            An item for the boto3 resource API (``Table.put_item(Item=...)``).

        Examples
        --------
        >>> row = logfile_dataset("stream")[0]
        >>> row.to_item()["PK"]
        'request#4001'
        """
        item: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        item["PK"] = f"request#{self.requestid}"
        item["GSI_1_PK"] = f"host#{self.host}"
        if self.responsecode == 500:
            item["servererror"] = "5xx"
        return item

    def to_csv_row(self) -> list[str]:
        """Return the row as the lab's CSV files write it (hour with two digits)."""
        values = [str(v) for v in astuple(self)]
        values[3] = f"{self.hourofday:02d}"
        return values

    @classmethod
    def from_csv_row(cls, values: list[str]) -> LogRow:
        """Parse one CSV row (ten columns, no header) into a :class:`LogRow`.

        Parameters
        ----------
        values : list of str
            The cells, in the order of :data:`LOG_COLUMNS`.

        Returns
        -------
        LogRow

        Raises
        ------
        ValueError
            Not ten cells, or a number column that is not an integer.
        """
        if len(values) != len(LOG_COLUMNS):
            raise ValueError(f"expected {len(LOG_COLUMNS)} columns, got {len(values)}")
        rid, host, date, hour, tz, method, url, code, size, agent = values
        return cls(int(rid), host, date, int(hour), tz, method, url, int(code), int(size), agent)


def read_logfile_csv(path: Path | str) -> list[LogRow]:
    """Read a log CSV file in the lab's format (ten columns, no header).

    Parameters
    ----------
    path : path
        The file.

    Returns
    -------
    list of LogRow

    Raises
    ------
    DataDirError
        The folder or the file is missing, or a row cannot be parsed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise DataDirError(
            f"data_dir {str(path.parent)!r} is not an existing folder: pass data_dir=None to use "
            f"generated data, or the folder holding {path.name}"
        )
    if not path.is_file():
        raise DataDirError(
            f"{path.name} is not in {str(path.parent)!r}: copy it there, or pass "
            "data_dir=None to use generated data"
        )
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for line_no, values in enumerate(csv.reader(f), start=1):
            try:
                rows.append(LogRow.from_csv_row(values))
            except ValueError as exc:
                raise DataDirError(
                    f"{path}: line {line_no} is not a log row ({exc}): fix or remove that line"
                ) from None
    return rows


def write_logfile_csv(rows: Iterable[LogRow], path: Path | str) -> Path:
    """Write rows in the lab's CSV format (no header, LF line endings).

    Parameters
    ----------
    rows : iterable of LogRow
        The rows.
    path : path
        The file to write; its folder must exist.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerows(row.to_csv_row() for row in rows)
    return path
