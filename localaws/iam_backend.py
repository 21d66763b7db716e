"""Two speed-ups of moto's IAM backend that change nothing it answers.

moto builds an IAM backend per account and partition, and each one parses AWS's
~1,600 managed policies from JSON (about 60 ms, several times that on a busy
machine). Two things made a test suite pay for it again and again:

* every request looks up the caller's account by its access key in the IAM backend
  of *every* partition, creating the six backends that do not exist yet (after
  ``POST /moto-api/reset``, and on a new account, each request did this);
* every backend parsed the managed policies again;
* every request also marks its access key as used (``mark_account_as_visited``),
  which created the caller's IAM backend, and so loaded the managed policies, on
  the first request of any service after a reset or in a new account;
* ``POST /moto-api/reset`` re-initialised every IAM backend in place (loading
  the policies again) right before dropping it: ``BackendDict.reset`` clears
  its accounts afterwards, and the next request builds a new backend.

:func:`install` makes the look-up and the marking skip backends that do not exist
(they hold no access keys, so the answer is the same), lets a reset drop an IAM
backend without re-initialising it first, and builds each backend's managed
policies from a pickled template of the first parse: fresh objects every time
(attachment counts and versions are per backend, as before), about ten times
faster to make. An IAM backend is now made by the first call that needs one.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import pickle
import sys
import threading
import types
from typing import Any

_templates: dict[tuple[str, str], bytes] = {}
_templates_lock = threading.Lock()
_installed = False


_POLICIES_MODULE = "moto.iam.aws_managed_policies"


def _policies_path() -> str:
    import moto

    return os.path.join(os.path.dirname(moto.__file__), "iam", "aws_managed_policies.py")


def _policies_json(name: str) -> str:
    """moto's managed-policy JSON, read afresh from its module's file (none keeps it).

    The module is one triple-quoted string: without a backslash in it, its text is
    the value (14 ms; compiling the module takes 1-2 s where bytecode is not cached).
    """
    if name != "aws_managed_policies_data":
        raise AttributeError(name)
    path = _policies_path()
    with open(path, encoding="utf-8") as source:
        text = source.read()
    start, end = text.find('"""') + 3, text.rfind('"""')
    if 3 <= start < end and "\\" not in text[start:end] and '"""' not in text[start:end]:
        return text[start:end]
    spec = importlib.util.spec_from_file_location(_POLICIES_MODULE, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.aws_managed_policies_data)


def _lazy_policies_module() -> None:
    """moto's managed-policy module, made to read its one value only when asked."""
    module = sys.modules.get(_POLICIES_MODULE)
    if module is None:
        module = types.ModuleType(_POLICIES_MODULE, "AWS managed policies, read on demand.")
        module.__file__ = _policies_path()
        sys.modules[_POLICIES_MODULE] = module
    module.__dict__.pop("aws_managed_policies_data", None)
    module.__getattr__ = _policies_json  # type: ignore[attr-defined]


def install() -> None:
    """Patch moto's IAM module (idempotent); call before serving requests."""
    global _installed
    if _installed:
        return
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.base_backend import BaseBackend
    # The policies' JSON (a 4.7 MB string) is read only to make a template: it is not
    # kept, and is read again for an account or partition without one.
    _lazy_policies_module()
    from moto.iam import models

    models.__dict__.pop("aws_managed_policies_data", None)
    original_init = models.IAMBackend._init_aws_policies

    def parse_policies(self: Any) -> list[Any]:
        with _templates_lock:
            models.aws_managed_policies_data = _policies_json("aws_managed_policies_data")
            try:
                return original_init(self)
            finally:
                del models.aws_managed_policies_data

    def init_aws_policies(self: Any) -> list[Any]:
        if not models.load_iam_aws_managed_policies():
            return original_init(self)  # moto's answer: none (read at each call)
        key = (self.account_id, self.region_name)
        blob = _templates.get(key)
        if blob is None:
            policies = parse_policies(self)
            with _templates_lock:
                _templates[key] = pickle.dumps(policies, protocol=pickle.HIGHEST_PROTOCOL)
            return policies
        # No cycle is made while unpickling: the collector would only walk the
        # whole heap several times over while ~1,400 policies are allocated.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return pickle.loads(blob)
        finally:
            if enabled:
                gc.enable()

    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(models.iam_backends.items()):
            # dict.get: look only at backends that exist (BackendDict creates on access).
            for partition in models.PARTITION_NAMES:
                backend = dict.get(account, partition)
                if backend is not None and access_key in backend.access_keys:
                    return account_id
        return DEFAULT_ACCOUNT_ID

    from localaws.state import dirty

    original_mark = models.mark_account_as_visited

    def mark_account_as_visited(account_id: str, access_key: str, service: str,
                                region: str) -> None:
        account = dict.get(models.iam_backends, account_id)
        backend = None if account is None else dict.get(
            account, models.get_partition(region))
        if backend is not None and access_key in backend.access_keys:
            # The key's and its role's last-used time: saved lazily by the state.
            with dirty.bookkeeping(("iam", account_id, None)):
                original_mark(account_id, access_key, service, region)

    def reset(self: Any) -> None:
        # Called only by BackendDict.reset, which drops the backend right after;
        # a reset backend must not be used again, so it is emptied, not rebuilt.
        region_name, account_id = self.region_name, self.account_id
        self.__dict__ = {}
        BaseBackend.__init__(self, region_name, account_id)

    models.IAMBackend._init_aws_policies = init_aws_policies
    models.IAMBackend.reset = reset
    models.get_account_id_from = get_account_id_from
    models.mark_account_as_visited = mark_account_as_visited
    _installed = True
