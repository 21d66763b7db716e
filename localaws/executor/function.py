"""A deployed function as the executor needs it: settings plus unpacked code.

Functions are created, updated and deleted through moto's Lambda API; this module
reads moto's record of a function and unpacks its zip once per ``CodeSha256``
into the endpoint's state directory.
"""

from __future__ import annotations

import io
import shutil
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from localaws import backends
from localaws.errors import ServiceError

_unpack_lock = threading.Lock()


@dataclass(frozen=True)
class FunctionSpec:
    """Everything that defines one version of a function's execution environment."""

    name: str
    arn: str
    account_id: str
    region: str
    handler: str
    runtime: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    code_sha256: str
    task_root: Path
    reserved_concurrency: int | None
    role: str = ""  # the execution role's ARN

    @property
    def log_group(self) -> str:
        """CloudWatch Logs group of the function."""
        return f"/aws/lambda/{self.name}"

    @property
    def fingerprint(self) -> tuple:
        """What makes environments interchangeable: code and configuration."""
        return (self.code_sha256, self.handler, self.timeout_s, self.memory_mb,
                tuple(sorted(self.environment.items())), self.runtime, self.role)


def parse_function_name(name_or_arn: str) -> tuple[str, str | None, str | None]:
    """Split a function name, partial or full ARN into (name, region, qualifier)."""
    if name_or_arn.startswith("arn:"):
        parts = name_or_arn.split(":")
        region = parts[3]
        name = parts[6] if len(parts) > 6 else ""
        qualifier = parts[7] if len(parts) > 7 else None
        return name, region, qualifier
    if ":" in name_or_arn:
        parts = name_or_arn.split(":")
        if len(parts) >= 3 and parts[1] == "function":  # ACCOUNT:function:NAME[:Q]
            return parts[2], None, parts[3] if len(parts) > 3 else None
        return parts[0], None, parts[1]
    return name_or_arn, None, None


def function_not_found(account_id: str, region: str, name: str) -> ServiceError:
    """AWS's error for an unknown function."""
    return ServiceError(
        "ResourceNotFoundException",
        f"Function not found: arn:aws:lambda:{region}:{account_id}:function:{name}",
        status=404,
    )


def resolve(account_id: str, region: str, name_or_arn: str, state_dir: Path) -> FunctionSpec:
    """Look a function up in moto and make sure its code is unpacked.

    Raises
    ------
    ServiceError
        ``ResourceNotFoundException`` when the function does not exist.
    """
    name, arn_region, qualifier = parse_function_name(name_or_arn)
    region = arn_region or region
    if qualifier not in (None, "$LATEST"):
        raise ServiceError(
            "InvalidParameterValueException",
            f"The local endpoint runs $LATEST only; versions and aliases such as "
            f"{qualifier!r} are not supported.")
    fn = backends.lambda_function(account_id, region, name)
    if fn is None:
        raise function_not_found(account_id, region, name)
    if fn.package_type == "Image" or not getattr(fn, "code_bytes", None):
        raise ServiceError(
            "InvalidParameterValueException",
            "The local endpoint runs zip-packaged functions only (PackageType Zip).")
    root = state_dir / "functions" / account_id / region / name / _safe(fn.code_sha_256)
    _unpack(fn.code_bytes, root)
    env = dict(fn.environment_vars or {})
    return FunctionSpec(
        name=fn.function_name,
        arn=fn.function_arn,
        account_id=account_id,
        region=region,
        handler=fn.handler,
        runtime=fn.run_time or "python3.12",
        timeout_s=int(fn.timeout or 3),
        memory_mb=int(fn.memory_size or 128),
        environment={str(k): str(v) for k, v in env.items()},
        code_sha256=fn.code_sha_256,
        task_root=root,
        reserved_concurrency=(int(fn.reserved_concurrency)
                              if fn.reserved_concurrency is not None else None),
        role=str(fn.role or ""),
    )


def _safe(sha: str) -> str:
    return sha.replace("/", "_").replace("+", "-").rstrip("=")


def _unpack(code: bytes, root: Path) -> None:
    if (root / ".complete").exists():
        return
    with _unpack_lock:
        if (root / ".complete").exists():
            return
        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            archive.extractall(tmp)
        (tmp / ".complete").touch()
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
