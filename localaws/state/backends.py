"""moto's in-process data: every service's ``BackendDict``, found generically.

moto registers each service's ``BackendDict`` in ``BackendDict._instances`` the
first time an account is used, so saving "every instance" saves every service the
endpoint has served (DynamoDB, Streams, IAM, STS, SQS, SNS, CloudWatch, Logs,
Lambda, and anything added later) without a list of services or fields. Each one
is found again on load by the module attribute that holds it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from moto.core.base_backend import BackendDict

_addresses: dict[int, tuple[BackendDict, str]] = {}


def _address(backends: BackendDict) -> str:
    """``module:attribute`` of the module global holding ``backends`` (found once)."""
    known = _addresses.get(id(backends))
    if known is not None and known[0] is backends:
        return known[1]
    address = _find_address(backends)
    _addresses[id(backends)] = (backends, address)
    return address


def _find_address(backends: BackendDict) -> str:
    module = backends.backend.__module__
    candidates = [module, *(name for name in sys.modules
                            if name.startswith(module.rsplit(".", 1)[0] + "."))]
    for name in candidates:
        namespace = vars(sys.modules.get(name) or importlib.import_module(name))
        for attribute, value in namespace.items():
            if value is backends:
                return f"{name}:{attribute}"
    raise LookupError(f"cannot find where moto keeps the {backends.service_name} backends")


def capture() -> dict[str, dict[str, Any]]:
    """Every used service's accounts (``{address: {account: AccountSpecificBackend}}``).

    The dictionaries are shallow copies: pickle them before anything changes.
    """
    return {_address(b): dict(b) for b in list(BackendDict._instances) if len(b)}


def restore(saved: dict[str, dict[str, Any]]) -> None:
    """Put saved accounts back into moto's ``BackendDict`` objects, in place."""
    for address, accounts in saved.items():
        module, attribute = address.split(":")
        backends = getattr(importlib.import_module(module), attribute)
        backends.clear()
        backends.update(accounts)
        if backends not in BackendDict._instances:
            BackendDict._instances.append(backends)
