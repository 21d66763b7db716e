"""Two speed-ups of moto's IAM backend that change nothing it answers.

moto builds an IAM backend per account and partition, and each one parses AWS's
~1,600 managed policies from JSON (about 60 ms, several times that on a busy
machine). Two things made a test suite pay for it again and again:

* every request looks up the caller's account by its access key in the IAM backend
  of *every* partition, creating the six backends that do not exist yet (after
  ``POST /moto-api/reset``, and on a new account, each request did this);
* every backend parsed the managed policies again.

:func:`install` makes the look-up skip backends that do not exist (they hold no
access keys, so the answer is the same) and builds each backend's managed
policies from a pickled template of the first parse: fresh objects every time
(attachment counts and versions are per backend, as before), about ten times
faster to make.
"""

from __future__ import annotations

import pickle
import threading
from typing import Any

_templates: dict[tuple[str, str], bytes] = {}
_templates_lock = threading.Lock()
_installed = False


def install() -> None:
    """Patch moto's IAM module (idempotent); call before serving requests."""
    global _installed
    if _installed:
        return
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam import models

    original_init = models.IAMBackend._init_aws_policies

    def init_aws_policies(self: Any) -> list[Any]:
        key = (self.account_id, self.region_name)
        blob = _templates.get(key)
        if blob is None:
            policies = original_init(self)
            with _templates_lock:
                _templates[key] = pickle.dumps(policies, protocol=pickle.HIGHEST_PROTOCOL)
            return policies
        return pickle.loads(blob)

    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(models.iam_backends.items()):
            # dict.get: look only at backends that exist (BackendDict creates on access).
            for partition in models.PARTITION_NAMES:
                backend = dict.get(account, partition)
                if backend is not None and access_key in backend.access_keys:
                    return account_id
        return DEFAULT_ACCOUNT_ID

    models.IAMBackend._init_aws_policies = init_aws_policies
    models.get_account_id_from = get_account_id_from
    _installed = True
