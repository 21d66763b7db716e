"""Progress bars for waits: shown only when a wait is long enough to need one.

A bar appears after :data:`DELAY_S` seconds, so a wait that ends sooner leaves
nothing in the page (no "0%" bar frozen in an executed notebook); a longer one
ends showing where it stopped.
"""

from __future__ import annotations

import warnings
from typing import Any

from tqdm import TqdmWarning

with warnings.catch_warnings():
    # Without ipywidgets, tqdm.auto falls back to text bars and warns once; text is fine.
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm as _auto_tqdm

DELAY_S = 1.0


class tqdm(_auto_tqdm):  # noqa: N801 - a drop-in for tqdm's own class name
    """``tqdm.auto.tqdm`` that starts showing only after :data:`DELAY_S` seconds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("delay", DELAY_S)
        super().__init__(*args, **kwargs)
