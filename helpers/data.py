"""The workshop's data, generated deterministically from a seed.

Two data sets live here:

* **Web-server log rows** for the ``logfile`` exercise (LADV). The rows have the
  ten columns of the original lab's CSV files and look like the traffic of a
  photo-gallery site crawled by search engines. :func:`logfile_dataset` builds
  the four data sets of the exercise with their original sizes and id ranges,
  or reads the original CSV files from a folder when you have them.
* **E-commerce items** for the single-table ``demo-ecommerce-freetier`` design:
  users, products, orders and order lines (:func:`ecommerce_items`).

Numbers are Python ``int`` or :class:`~decimal.Decimal`, never ``float``, so the
items can be written with the boto3 *resource* API as they are, and compare
equal to what DynamoDB returns (which is always ``Decimal``).

The same seed gives the same rows for a given Python version.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_SEED = 20090721
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


# --------------------------------------------------------------------------- log rows


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


# Crawlers of the time, each from a fixed address, doing most of the traffic.
_GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
_FEEDFETCHER = (
    "Mozilla/5.0 (compatible) Feedfetcher-Google; (+http://www.google.com/feedfetcher.html)"
)
_CRAWLERS: tuple[tuple[str, str, float], ...] = (
    ("66.249.65.41", _GOOGLEBOT, 13.0),
    ("66.249.71.118", _GOOGLEBOT, 7.0),
    ("66.249.65.41", "Googlebot-Image/1.0", 2.0),
    ("74.125.75.20", _FEEDFETCHER, 8.0),
    ("72.14.199.66", _FEEDFETCHER, 7.0),
    ("64.233.178.35", _FEEDFETCHER, 5.0),
    ("74.125.16.82", _FEEDFETCHER, 4.0),
    ("74.125.16.82", "FeedFetcher-Google; (+http://www.google.com/feedfetcher.html)", 4.0),
    ("65.55.207.94", "msnbot/2.0b (+http://search.msn.com/msnbot.htm)", 4.0),
    ("65.55.106.177", "msnbot/1.1 (+http://search.msn.com/msnbot.htm)", 2.5),
    (
        "72.30.79.84",
        "Mozilla/5.0 (compatible; Yahoo! Slurp/3.0; http://help.yahoo.com/help/us/ysearch/slurp)",
        2.5,
    ),
    ("220.181.7.113", "Baiduspider+(+http://www.baidu.com/search/spider.htm)", 1.0),
)
_CRAWLER_SHARE = 0.6
# First octets of public address blocks the visitors come from (no private or loopback ranges).
_VISITOR_NETS = (24, 58, 59, 61, 68, 71, 76, 81, 86, 89, 92, 117, 121, 122, 124, 189, 201, 203)
_BROWSERS = (
    "Mozilla/5.0 (Windows; U; Windows NT 5.1; en-US; rv:1.9.1) Gecko/20090624 Firefox/3.5",
    "Mozilla/5.0 (Windows; U; Windows NT 6.0; en-US; rv:1.9.0.11) Gecko/2009060215 Firefox/3.0.11",
    "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0; SLCC1; .NET CLR 2.0.50727)",
    "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0; .NET CLR 1.1.4322)",
    "Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10_5_7; en-us) AppleWebKit/530.17 "
    "(KHTML, like Gecko) Version/4.0 Safari/530.17",
    "Mozilla/5.0 (X11; U; Linux i686; en-US; rv:1.9.0.11) Gecko/2009061118 Ubuntu/9.04 "
    "Firefox/3.0.11",
    "Opera/9.64 (Windows NT 5.1; U; en) Presto/2.1.1",
)
# Response codes other than 500, weighted like the lab's files; 500 is placed exactly.
_CODES = (200, 302, 404, 304, 206, 301, 403)
_CODE_WEIGHTS = (85.6, 10.0, 2.0, 1.5, 0.4, 0.15, 0.05)
_NATURAL_500_RATE = 0.003
_GALLERY = "/gallery/main.php"


def _visitor_pool(rng: random.Random, size: int) -> list[tuple[str, str, float]]:
    """Human visitors: random addresses, one browser each, Zipf-like activity."""
    pool = []
    for rank in range(1, size + 1):
        octets = (rng.choice(_VISITOR_NETS), rng.randint(0, 255), rng.randint(0, 255))
        host = ".".join(map(str, (*octets, rng.randint(1, 254))))
        pool.append((host, rng.choice(_BROWSERS), 1.0 / rank))
    return pool


def _url(rng: random.Random, code: int, agent: str) -> str:
    item = rng.randint(1000, 40000)
    if "Feedfetcher" in agent or "FeedFetcher" in agent:
        if rng.random() < 0.6:
            return rng.choice(("/gwidgets/photos.xml", "/gwidgets/latest.xml", "/gwidgets/map.xml"))
        return f"/gallery/rss.php?album={rng.randint(1, 60)}"
    if code == 302:
        return (
            f"{_GALLERY}?g2_controller=exif.SwitchDetailMode&g2_mode=detailed"
            f"&g2_return=%2Fgallery%2Fmain.php%3Fg2_itemId%3D{item}&g2_returnName=photo"
        )
    if code == 404:
        return rng.choice(("/favicon.ico", "/apple-touch-icon.png", f"/photos/{item}.jpg"))
    if code == 304:
        return rng.choice(("/gallery/themes/matrix/theme.css", "/gallery/lib/yui/utilities.js"))
    if code in (206, 500) or "Image" in agent:
        serial = rng.randint(1, 4)
        return f"{_GALLERY}?g2_view=core.DownloadItem&g2_itemId={item}&g2_serialNumber={serial}"
    if code == 301:
        return "/gallery"
    if code == 403:
        return "/gallery/upgrade/index.php"
    kind = rng.random()
    if kind < 0.5:
        return f"{_GALLERY}?g2_itemId={item}"
    if kind < 0.7:
        return f"{_GALLERY}?g2_itemId={item}&g2_fromNavId=x{rng.getrandbits(32):08x}"
    if kind < 0.8:
        return (
            f"{_GALLERY}?g2_view=core.UserAdmin&g2_subView=core.UserLogin"
            f"&g2_return=%2Fgallery%2Fmain.php%3Fg2_itemId%3D{item}&g2_returnName=photo"
        )
    if kind < 0.9:
        return f"{_GALLERY}?g2_view=slideshow.Slideshow&g2_itemId={item}"
    return f"{_GALLERY}?g2_view=core.DownloadItem&g2_itemId={item}&g2_serialNumber=2"


def _bytes_sent(rng: random.Random, code: int, url: str) -> int:
    if code == 304:
        return 0
    if code == 302:
        return 5
    if code in (404, 206):
        return 146
    if code in (301, 403):
        return rng.randint(290, 340)
    if code == 500:
        return rng.randint(850, 950)
    median = 60_000 if "DownloadItem" in url else 4_000
    return min(int(rng.lognormvariate(0, 1.1) * median), 9_000_000)


def generate_logfile_rows(
    start_id: int,
    count: int,
    *,
    seed: int,
    date: str,
    start_hour: int = 0,
    span_hours: float = 1.0,
    server_errors: int | None = None,
    post_rate: float = 0.0005,
) -> list[LogRow]:
    """Generate web-server log rows like those of the lab's CSV files.

    About 60 % of the requests come from a dozen search-engine crawlers (a few
    very busy addresses), the rest from human visitors with ordinary browsers.
    Response codes are weighted like the original files (200 about 85 %,
    302 about 10 %, 404 2 %, 304 1.5 %, a few 206/301/403), response sizes are
    log-normal, and the requests are spread in time order over ``span_hours``.

    Parameters
    ----------
    start_id : int
        ``requestid`` of the first row; the others follow one by one.
    count : int
        Number of rows.
    seed : int
        Same seed and arguments, same rows.
    date : str
        ``YYYY-MM-DD`` of the first request.
    start_hour : int
        Hour of the first request (0-23).
    span_hours : float
        Length of the period the requests are spread over; the date rolls over
        at midnight.
    server_errors : int, optional
        Exactly this many rows get response code 500. By default they occur at
        a natural rate (about 0.3 %).
    post_rate : float
        Probability that a request is a ``POST``.

    Returns
    -------
    list of LogRow

    Raises
    ------
    ValueError
        A negative count, more server errors than rows, or a bad date or hour.

    Examples
    --------
    >>> rows = generate_logfile_rows(1, 3, seed=1, date="2009-07-20", start_hour=20)
    >>> [r.requestid for r in rows]
    [1, 2, 3]
    """
    if count < 0:
        raise ValueError(f"count={count} is negative: pass 0 or more rows")
    if server_errors is not None and not 0 <= server_errors <= count:
        raise ValueError(f"server_errors={server_errors} must be between 0 and count={count}")
    if not 0 <= start_hour <= 23:
        raise ValueError(f"start_hour={start_hour} must be between 0 and 23")
    start = datetime.strptime(date, "%Y-%m-%d") + timedelta(hours=start_hour)
    rng = random.Random(f"logfile:{seed}:{start_id}:{count}:{date}:{start_hour}:{span_hours}")

    visitors = _visitor_pool(rng, max(30, count // 6))
    visitor_total = sum(w for _, _, w in visitors)
    crawler_total = sum(w for _, _, w in _CRAWLERS)
    agents = [(h, ua, _CRAWLER_SHARE * w / crawler_total) for h, ua, w in _CRAWLERS]
    agents += [(h, ua, (1 - _CRAWLER_SHARE) * w / visitor_total) for h, ua, w in visitors]
    picks = rng.choices(agents, weights=[w for _, _, w in agents], k=count)

    if server_errors is None:
        failing = {i for i in range(count) if rng.random() < _NATURAL_500_RATE}
    else:
        failing = set(rng.sample(range(count), server_errors))
    offsets = sorted(rng.uniform(0, span_hours * 3600) for _ in range(count))

    rows = []
    for i, ((host, agent, _), offset) in enumerate(zip(picks, offsets, strict=True)):
        when = start + timedelta(seconds=offset)
        code = 500 if i in failing else rng.choices(_CODES, weights=_CODE_WEIGHTS)[0]
        method = "POST" if rng.random() < post_rate else "GET"
        url = _url(rng, code, agent)
        if method == "POST":
            url = f"{_GALLERY}?g2_controller=comment.AddComment&g2_itemId={rng.randint(1, 40000)}"
        rows.append(
            LogRow(
                requestid=start_id + i,
                host=host,
                date=when.strftime("%Y-%m-%d"),
                hourofday=when.hour,
                timezone=TIMEZONE,
                method=method,
                url=url,
                responsecode=code,
                bytessent=_bytes_sent(rng, code, url),
                useragent=agent,
            )
        )
    return rows


@dataclass(frozen=True)
class LogfileDataset:
    """How one data set of the exercise is generated, and what it holds.

    Attributes
    ----------
    name : str
        ``small1``, ``medium1``, ``medium2`` or ``stream``; the CSV file is
        ``logfile_<name>.csv``.
    first_id, count : int
        The rows have request ids ``first_id`` to ``first_id + count - 1``.
    date, start_hour, span_hours
        When the requests happen (see :func:`generate_logfile_rows`).
    server_errors : int
        Rows with response code 500 (and so a ``servererror`` attribute).
    """

    name: str
    first_id: int
    count: int
    date: str
    start_hour: int
    span_hours: float
    server_errors: int

    @property
    def last_id(self) -> int:
        """The highest request id of the data set."""
        return self.first_id + self.count - 1

    @property
    def filename(self) -> str:
        """Name of the original CSV file of this data set."""
        return f"logfile_{self.name}.csv"


LOGFILE_DATASETS: dict[str, LogfileDataset] = {
    d.name: d
    for d in (
        LogfileDataset("small1", 1, 500, "2009-07-20", 20, 2.0, 0),
        # Same ids as small1: loading it overwrites those 500 items.
        LogfileDataset("medium1", 1, 2000, "2017-07-20", 20, 5.4, 0),
        LogfileDataset("medium2", 2001, 2000, "2017-07-21", 1, 5.5, 1),
        LogfileDataset("stream", 4001, 2000, "2009-07-21", 6, 4.5, 13),
    )
}


def logfile_dataset(
    name: str, *, data_dir: Path | str | None = None, seed: int = DEFAULT_SEED
) -> list[LogRow]:
    """Return the rows of one data set of the exercise.

    ============  ======  ===========  ============
    name          rows    request ids  response 500
    ============  ======  ===========  ============
    ``small1``    500     1-500        0
    ``medium1``   2,000   1-2000       0
    ``medium2``   2,000   2001-4000    1
    ``stream``    2,000   4001-6000    13
    ============  ======  ===========  ============

    Parameters
    ----------
    name : str
        One of :data:`LOGFILE_DATASETS`.
    data_dir : path, optional
        A folder holding the lab's original ``logfile_<name>.csv`` files (no
        header row). By default the rows are generated.
    seed : int
        Seed of the generated rows (ignored with ``data_dir``).

    Returns
    -------
    list of LogRow

    Raises
    ------
    ValueError
        Unknown data set name.
    DataDirError
        ``data_dir`` or the file is missing, or a row cannot be parsed.

    Examples
    --------
    >>> rows = logfile_dataset("stream")
    >>> len(rows), rows[0].requestid, sum(r.responsecode == 500 for r in rows)
    (2000, 4001, 13)
    """
    try:
        spec = LOGFILE_DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}: use one of {', '.join(map(repr, LOGFILE_DATASETS))}"
        ) from None
    if data_dir is None:
        return generate_logfile_rows(
            spec.first_id,
            spec.count,
            seed=seed,
            date=spec.date,
            start_hour=spec.start_hour,
            span_hours=spec.span_hours,
            server_errors=spec.server_errors,
        )
    return read_logfile_csv(Path(data_dir) / spec.filename)


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


# --------------------------------------------------------------------------- e-commerce

_FIRST_NAMES = ("Ana", "Binh", "Chloe", "Dmitri", "Emeka", "Farah", "Goro", "Hana", "Ivo", "Lan")
_LAST_NAMES = ("Nguyen", "Silva", "Okafor", "Tanaka", "Novak", "Haddad", "Larsen", "Tran", "Moreau")
_CITIES = (
    ("Seattle", "WA", "98101"),
    ("Austin", "TX", "73301"),
    ("Denver", "CO", "80202"),
    ("Boston", "MA", "02108"),
    ("Portland", "OR", "97201"),
)
_STREETS = ("Pine St", "Oak Ave", "Market St", "Lake Rd", "Hill Blvd", "River Ln")
# (id stem, name, category, brand, lowest price, highest price)
_CATALOGUE = (
    ("laptop", "Ultrabook 14", "electronics", "Northwind", 650, 1400),
    ("monitor", "27-inch Monitor", "electronics", "Northwind", 180, 450),
    ("headphones", "Noise-Cancelling Headphones", "electronics", "Sonora", 120, 350),
    ("keyboard", "Mechanical Keyboard", "electronics", "Keyworks", 60, 180),
    ("mouse", "Wireless Mouse", "electronics", "Keyworks", 15, 60),
    ("book", "Single-Table Design in Practice", "books", "Streamline Press", 25, 55),
    ("novel", "The Last Shard", "books", "Streamline Press", 10, 25),
    ("backpack", "Travel Backpack", "outdoor", "Trailhead", 45, 140),
    ("bottle", "Insulated Bottle", "outdoor", "Trailhead", 12, 35),
    ("lamp", "Desk Lamp", "home", "Lumen", 20, 90),
    ("mug", "Ceramic Mug", "home", "Lumen", 8, 20),
    ("chair", "Ergonomic Chair", "home", "Sitwell", 150, 600),
)
_PRICE_BANDS = ((10, "0-10"), (50, "10-50"), (100, "50-100"), (500, "100-500"), (1000, "500-1000"))
ORDER_STATUSES = ("pending", "processing", "shipped")
_CENT = Decimal("0.01")


def price_band(price: Decimal) -> str:
    """Return the GSI2 price band of a product.

    Parameters
    ----------
    price : Decimal
        The product's price.

    Returns
    -------
    str
        ``"0-10"``, ``"10-50"``, ``"50-100"``, ``"100-500"``, ``"500-1000"`` or
        ``"1000-plus"`` (lower bound included, upper bound excluded).
    """
    for upper, label in _PRICE_BANDS:
        if price < upper:
            return label
    return "1000-plus"


def ecommerce_items(
    seed: int = DEFAULT_SEED, *, users: int = 6, products: int = 10, orders: int = 8
) -> list[dict[str, Any]]:
    """Generate sample items for the single-table ``demo-ecommerce-freetier`` design.

    ==================  ============  ========================  =====================
    item                PK / SK       GSI1PK / GSI1SK           GSI2PK / GSI2SK
    ==================  ============  ========================  =====================
    user profile        USER#id       USER#<email>              -
                        PROFILE       PROFILE
    product             PRODUCT#id    CATEGORY#<category>       PRICE#<band>
                        DETAILS       PRODUCT#id                PRODUCT#id
    order               ORDER#id      USER#<user id>            STATUS#<status>
                        DETAILS       ORDER#id                  ORDER#id
    order line          ORDER#id      PRODUCT#<product id>      -
                        ITEM#<pid>    ORDER#id
    ==================  ============  ========================  =====================

    So GSI1 answers "products of a category", "orders of a user", "orders of a
    product" and "user by e-mail"; GSI2 answers "orders by status" and
    "products by price band". Prices and totals are :class:`~decimal.Decimal`.

    Parameters
    ----------
    seed : int
        Same seed, same items.
    users : int
        Number of users (at most 10).
    products : int
        Number of products (at most 12).
    orders : int
        Number of orders; each has one to three order lines.

    Returns
    -------
    list of dict
        Users first, then products, then each order followed by its lines.

    Raises
    ------
    ValueError
        Asked for more users or products than the built-in lists hold, or for
        orders without users or products.

    Examples
    --------
    >>> items = ecommerce_items()
    >>> items[0]["PK"], items[0]["SK"]
    ('USER#user001', 'PROFILE')
    """
    if not 1 <= users <= len(_FIRST_NAMES):
        raise ValueError(f"users={users} must be between 1 and {len(_FIRST_NAMES)}")
    if not 1 <= products <= len(_CATALOGUE):
        raise ValueError(f"products={products} must be between 1 and {len(_CATALOGUE)}")
    if orders < 0:
        raise ValueError(f"orders={orders} is negative: pass 0 or more")
    rng = random.Random(f"ecommerce:{seed}")
    base = datetime(2025, 8, 11, 9, 0, 0)
    items: list[dict[str, Any]] = []

    user_ids = []
    for n, first in enumerate(rng.sample(_FIRST_NAMES, users), start=1):
        user_id = f"user{n:03d}"
        last = rng.choice(_LAST_NAMES)
        email = f"{first}.{last}@example.com".lower()
        city, state, zip_code = rng.choice(_CITIES)
        user_ids.append(user_id)
        items.append(
            {
                "PK": f"USER#{user_id}",
                "SK": "PROFILE",
                "GSI1PK": f"USER#{email}",
                "GSI1SK": "PROFILE",
                "user_id": user_id,
                "name": f"{first} {last}",
                "email": email,
                "phone": f"+1-555-01{n:02d}",
                "address": {
                    "street": f"{rng.randint(10, 999)} {rng.choice(_STREETS)}",
                    "city": city,
                    "state": state,
                    "zip": zip_code,
                },
                "created_at": _iso(base + timedelta(hours=n)),
                "status": "active",
            }
        )

    catalogue = []
    for stem, name, category, brand, low, high in rng.sample(_CATALOGUE, products):
        product_id = f"{stem}001"
        price = (Decimal(rng.randint(low, high)) - _CENT).quantize(_CENT)
        stock = rng.choice((0, *range(3, 120)))
        catalogue.append((product_id, price))
        items.append(
            {
                "PK": f"PRODUCT#{product_id}",
                "SK": "DETAILS",
                "GSI1PK": f"CATEGORY#{category}",
                "GSI1SK": f"PRODUCT#{product_id}",
                "GSI2PK": f"PRICE#{price_band(price)}",
                "GSI2SK": f"PRODUCT#{product_id}",
                "product_id": product_id,
                "name": name,
                "category": category,
                "brand": brand,
                "price": price,
                "stock": stock,
                "status": "active" if stock else "out_of_stock",
            }
        )

    for n in range(1, orders + 1):
        order_id = f"order{n:03d}"
        user_id = rng.choice(user_ids)
        status = rng.choices(ORDER_STATUSES, weights=(3, 2, 4))[0]
        lines = []
        for product_id, price in rng.sample(catalogue, min(rng.randint(1, 3), len(catalogue))):
            quantity = rng.choice((1, 1, 1, 2, 3))
            lines.append(
                {
                    "PK": f"ORDER#{order_id}",
                    "SK": f"ITEM#{product_id}",
                    "GSI1PK": f"PRODUCT#{product_id}",
                    "GSI1SK": f"ORDER#{order_id}",
                    "order_id": order_id,
                    "product_id": product_id,
                    "quantity": quantity,
                    "unit_price": price,
                    "total_price": price * quantity,
                }
            )
        items.append(
            {
                "PK": f"ORDER#{order_id}",
                "SK": "DETAILS",
                "GSI1PK": f"USER#{user_id}",
                "GSI1SK": f"ORDER#{order_id}",
                "GSI2PK": f"STATUS#{status}",
                "GSI2SK": f"ORDER#{order_id}",
                "order_id": order_id,
                "user_id": user_id,
                "status": status,
                "item_count": sum(line["quantity"] for line in lines),
                "total": sum((line["total_price"] for line in lines), Decimal("0.00")),
                "created_at": _iso(base + timedelta(days=1, minutes=37 * n)),
            }
        )
        items.extend(lines)
    return items


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
