"""Progress bars for waits: shown only when a wait is long enough to need one.

A bar appears after :data:`DELAY_S` seconds, so a wait that ends sooner leaves
nothing in the page; a longer one ends showing where it stopped. In a headless
run (papermill, ``WORKSHOP_HEADLESS=1``, set by ``helpers.workshop run``) no bar is
drawn at all: a widget's saved text is its state when it appeared ("5%"), which
would stay frozen in the executed page.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from tqdm import TqdmWarning

with warnings.catch_warnings():
    # Without ipywidgets, tqdm.auto falls back to text bars and warns once; text is fine.
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm as _auto_tqdm

DELAY_S = 1.0
ENV_HEADLESS = "WORKSHOP_HEADLESS"


class tqdm(_auto_tqdm):  # noqa: N801 - a drop-in for tqdm's own class name
    """``tqdm.auto.tqdm`` that starts showing only after :data:`DELAY_S` seconds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("delay", DELAY_S)
        if os.environ.get(ENV_HEADLESS) == "1":
            kwargs["disable"] = True
        super().__init__(*args, **kwargs)
