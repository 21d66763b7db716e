"""moto's in-process data: every service's ``BackendDict``, found generically.

moto registers each service's ``BackendDict`` in ``BackendDict._instances`` the
first time an account is used, so saving "every instance" saves every service the
endpoint has served (DynamoDB, Streams, IAM, STS, SQS, SNS, CloudWatch, Logs,
Lambda, and anything added later) without a list of services or fields. Each one
is found again on load by the module attribute that holds it.

A snapshot saves them as parts (:func:`capture`): the *skeleton* (which accounts and
regions each service has), one part per backend (service, account, region), and one
per DynamoDB table (its items and its stream), so that a snapshot re-pickles only
what changed (:mod:`.dirty`).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import Any

from moto.core.base_backend import BackendDict

from localaws.state.dirty import DYNAMODB, Key

SKELETON = "moto"
"""The part holding each service's accounts and regions (references to their backends)."""
PREFIX = SKELETON + "/"

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


@dataclass
class MotoParts:
    """moto's data as of now, cut into parts (take it under the gate; pickle it at once).

    Attributes
    ----------
    skeleton : dict
        ``{address: {account: AccountSpecificBackend}}`` (shallow copies).
    roots : dict
        Part name -> its backend or DynamoDB table.
    keys : dict
        Part name -> ``(service, account, region, table or None)``.
    """

    skeleton: dict[str, dict[str, Any]] = field(default_factory=dict)
    roots: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, tuple[str, str, str, str | None]] = field(default_factory=dict)

    def changed(self, everything: bool, marks: set[Key]) -> set[str]:
        """The parts the marks cover (:mod:`.dirty`'s keys)."""
        if everything:
            return set(self.roots)
        out = set()
        for name, (service, account, region, table) in self.keys.items():
            if ((service, account, region) in marks or (service, account, None) in marks
                    or (table is not None and (service, account, region, table) in marks)):
                out.add(name)
        return out


def capture() -> MotoParts:
    """Every used service's accounts, backends and DynamoDB tables, as parts."""
    from localaws.state.codec import pristine_iam

    parts = MotoParts()
    for backends in list(BackendDict._instances):
        if not len(backends):
            continue
        address = _address(backends)
        parts.skeleton[address] = accounts = dict(backends)
        service = backends.service_name
        for account, regional in accounts.items():
            for region, backend in list(dict.items(regional)):
                if pristine_iam(backend):
                    continue  # rebuilt by moto on demand (codec leaves it out)
                name = f"{PREFIX}{address}/{account}/{region}"
                parts.roots[name] = backend
                parts.keys[name] = (service, account, region, None)
                if service == DYNAMODB:
                    for table_name, table in list(backend.tables.items()):
                        parts.roots[f"{name}/table/{table_name}"] = table
                        parts.keys[f"{name}/table/{table_name}"] = (service, account, region,
                                                                    table_name)
    return parts


def restore(saved: dict[str, dict[str, Any]]) -> None:
    """Put saved accounts back into moto's ``BackendDict`` objects, in place."""
    for address, accounts in saved.items():
        module, attribute = address.split(":")
        backends = getattr(importlib.import_module(module), attribute)
        backends.clear()
        backends.update(accounts)
        if backends not in BackendDict._instances:
            BackendDict._instances.append(backends)
