"""Web-server log rows for the ``logfile`` exercise (LADV), generated from a seed.

The rows (:class:`~helpers.log_rows.LogRow`) look like the traffic of a
photo-gallery site crawled by search engines. :func:`logfile_dataset` builds the
four data sets of the exercise with their original sizes and id ranges, or
reads the original CSV files from a folder when you have them. The same seed
gives the same rows for a given Python version.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from helpers.log_rows import TIMEZONE, LogRow, read_logfile_csv

DEFAULT_SEED = 20090721


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

# (id stem, name, category, brand, lowest price, highest price)


