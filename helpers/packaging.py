"""Reproducible zip packages for the workshop's Lambda functions.

The same source tree always gives the same zip bytes, so the ``CodeSha256`` Lambda
reports for a deployed function tells whether the code changed: compare it with
:attr:`FunctionPackage.code_sha256` and skip the upload when they match.

What makes the bytes stable:

* entries sorted by their POSIX path, no directory entries;
* every entry dated 1980-01-01 00:00:00 (the earliest date a zip can hold), Unix
  permissions ``0o644``, "made by" Unix, whatever the machine;
* entries stored, not deflated: the functions are a few kilobytes, and deflate output
  differs between zlib builds (zlib, zlib-ng), which would change the hash between
  machines;
* caches, tests and documentation left out (``__pycache__``, ``*.pyc``, ``tests/``,
  ``test_*.py``, ``conftest.py``, ``README*``, hidden files).
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

#: ``lambda_src/`` of this repository.
LAMBDA_SRC_DIR = Path(__file__).resolve().parent.parent / "lambda_src"

#: Function name -> (folder under ``lambda_src/``, handler string).
WORKSHOP_FUNCTIONS: dict[str, tuple[str, str]] = {
    "demo-dynamodb-stream-processor": ("stream_processor", "app.lambda_handler"),
    "ddbreplica_lambda": ("replicator", "ddbreplica_lambda.lambda_handler"),
    "demo-tumbling-totals": ("tumbling_totals", "app.lambda_handler"),
}

ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
_REGULAR_FILE = 0o100000
_MADE_BY_UNIX = 3
_EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "test"})
_EXCLUDED_SUFFIXES = frozenset({".pyc", ".pyo"})


class PackagingError(Exception):
    """A function's source folder is missing or holds nothing to package."""


@dataclass(frozen=True)
class FunctionPackage:
    """A function's deployment package.

    Attributes
    ----------
    zip_bytes : bytes
        The zip file, for ``CreateFunction``/``UpdateFunctionCode`` ``ZipFile=``.
    code_sha256 : str
        Base64 of the SHA-256 digest of ``zip_bytes``, as Lambda's ``CodeSha256``.
    files : tuple[str, ...]
        The archive's entries, sorted.
    """

    zip_bytes: bytes
    code_sha256: str
    files: tuple[str, ...]

    @property
    def size(self) -> int:
        """Size of the zip in bytes (Lambda's ``CodeSize``)."""
        return len(self.zip_bytes)


def code_sha256(zip_bytes: bytes) -> str:
    """Hash a package the way Lambda's ``CodeSha256`` does.

    Parameters
    ----------
    zip_bytes : bytes
        The zip file.

    Returns
    -------
    str
        Base64 text of the raw SHA-256 digest (44 characters), not the hex digest.

    Examples
    --------
    >>> code_sha256(b"")
    '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='
    """
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")


def function_source_dir(name: str, base_dir: Path | None = None) -> Path:
    """Find a function's source folder.

    Parameters
    ----------
    name : str
        The folder under ``lambda_src/`` (``"replicator"``) or a function name listed
        in :data:`WORKSHOP_FUNCTIONS` (``"ddbreplica_lambda"``).
    base_dir : Path, optional
        Folder holding the function folders; defaults to :data:`LAMBDA_SRC_DIR`.

    Returns
    -------
    Path

    Raises
    ------
    PackagingError
        When no such folder exists.
    """
    base = base_dir if base_dir is not None else LAMBDA_SRC_DIR
    folder = WORKSHOP_FUNCTIONS[name][0] if name in WORKSHOP_FUNCTIONS else name
    path = base / folder
    if not path.is_dir():
        known = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        raise PackagingError(
            f"no function source folder {path}: expected one of {known or 'nothing'} "
            f"or a function name among {sorted(WORKSHOP_FUNCTIONS)}"
        )
    return path


def is_packaged(relative: Path) -> bool:
    """Whether a file (path relative to the source folder) belongs in the zip.

    Parameters
    ----------
    relative : Path
        Path of the file inside the function's folder.

    Returns
    -------
    bool
        ``False`` for caches, tests, READMEs and hidden files.
    """
    parts = relative.parts
    if any(part in _EXCLUDED_DIRS or part.startswith(".") for part in parts):
        return False
    name = parts[-1]
    if relative.suffix in _EXCLUDED_SUFFIXES or name.upper().startswith("README"):
        return False
    return not (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py")


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = _MADE_BY_UNIX
    info.external_attr = (_REGULAR_FILE | FILE_MODE) << 16
    return info


def build_zip(source_dir: Path) -> FunctionPackage:
    """Zip a function's folder reproducibly.

    Parameters
    ----------
    source_dir : Path
        The function's folder, e.g. ``function_source_dir("replicator")``; its files
        go to the root of the zip, so ``app.py`` gives handler ``app.lambda_handler``.

    Returns
    -------
    FunctionPackage

    Raises
    ------
    PackagingError
        When the folder does not exist or has no Python file to package.

    Examples
    --------
    >>> package = build_zip(function_source_dir("replicator"))
    >>> package.files
    ('ddbreplica_lambda.py',)
    """
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise PackagingError(f"{source_dir} is not a folder")
    selected = sorted(
        (path.relative_to(source_dir).as_posix(), path)
        for path in source_dir.rglob("*")
        if path.is_file() and is_packaged(path.relative_to(source_dir))
    )
    if not any(name.endswith(".py") for name, _ in selected):
        raise PackagingError(f"{source_dir} has no Python file to package")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in selected:
            archive.writestr(_entry(name), path.read_bytes())
    zip_bytes = buffer.getvalue()
    return FunctionPackage(
        zip_bytes=zip_bytes,
        code_sha256=code_sha256(zip_bytes),
        files=tuple(name for name, _ in selected),
    )


def package_function(name: str, base_dir: Path | None = None) -> FunctionPackage:
    """Shortcut: ``build_zip(function_source_dir(name, base_dir))``."""
    return build_zip(function_source_dir(name, base_dir))
