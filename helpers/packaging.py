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

Libraries. A function folder that holds a ``requirements.txt`` gets the distributions it
names (one name a line, e.g. ``aws-lambda-powertools``) bundled at the root of its zip,
with their dependencies, copied from the copies installed in this environment: the
versions are those of ``requirements.lock``, and packaging needs no network. What the
Lambda Python runtime already provides (boto3 and its dependencies, see
:data:`RUNTIME_PROVIDED`) is left out, compiled extensions are refused (the zip must run
on Lambda's Linux whatever machine built it), and of each ``.dist-info`` folder only the
files that do not depend on the installer are kept (``METADATA``, ``WHEEL``, licences).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

#: ``lambda_src/`` of this repository.
LAMBDA_SRC_DIR = Path(__file__).resolve().parent.parent / "lambda_src"

#: Folder under ``lambda_src/`` -> handler string.
FUNCTION_FOLDERS: dict[str, str] = {
    "stream_processor": "app.lambda_handler",
    "stream_processor_production": "app.lambda_handler",
    "replicator": "ddbreplica_lambda.lambda_handler",
    "replicator_production": "ddbreplica_lambda.lambda_handler",
    "tumbling_totals": "app.lambda_handler",
}

#: Function name -> (folder under ``lambda_src/``, handler string): the names the
#: workshop deploys its teaching versions under, and every folder under its own name.
WORKSHOP_FUNCTIONS: dict[str, tuple[str, str]] = {
    "demo-dynamodb-stream-processor": ("stream_processor", "app.lambda_handler"),
    "ddbreplica_lambda": ("replicator", "ddbreplica_lambda.lambda_handler"),
    "demo-tumbling-totals": ("tumbling_totals", "app.lambda_handler"),
    **{folder: (folder, handler) for folder, handler in FUNCTION_FOLDERS.items()},
}

def workshop_function(name: str) -> tuple[str, str] | None:
    """The ``(folder, handler)`` of a workshop function, also under a name prefix.

    Parameters
    ----------
    name : str
        A key of :data:`WORKSHOP_FUNCTIONS`, possibly with the notebooks' ``name_prefix``
        in front (``"alice-demo-dynamodb-stream-processor"``).

    Returns
    -------
    tuple or None
        ``None`` when the name is no workshop function's.
    """
    if name in WORKSHOP_FUNCTIONS:
        return WORKSHOP_FUNCTIONS[name]
    # only function names take a prefix; a folder ("replicator") is never a suffix match
    # of another folder ("region_replicator")
    matches = [key for key in WORKSHOP_FUNCTIONS
               if key not in FUNCTION_FOLDERS and name.endswith(key) and len(name) > len(key)]
    return WORKSHOP_FUNCTIONS[max(matches, key=len)] if matches else None


#: The file in a function folder that names the libraries to bundle.
REQUIREMENTS_FILE = "requirements.txt"

#: Distributions every Lambda Python runtime already has (boto3 and its dependencies):
#: never bundled, so the function uses the runtime's copy, as on AWS.
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "jmespath", "s3transfer", "urllib3", "python-dateutil", "six"}
)

#: ``.dist-info`` files kept in a bundle; the others (RECORD, INSTALLER, REQUESTED,
#: direct_url.json) depend on the installer and would change the zip's bytes.
_DIST_INFO_KEPT = frozenset({"METADATA", "WHEEL", "top_level.txt", "entry_points.txt"})

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
    bundled : tuple[tuple[str, str], ...]
        ``(distribution, version)`` of each bundled library, sorted; empty when the
        folder has no ``requirements.txt``.
    """

    zip_bytes: bytes
    code_sha256: str
    files: tuple[str, ...]
    bundled: tuple[tuple[str, str], ...] = ()

    @property
    def size(self) -> int:
        """Size of the zip in bytes (Lambda's ``CodeSize``)."""
        return len(self.zip_bytes)

    def summary(self) -> str:
        """One line for a learner: size, entries, bundled libraries.

        Examples
        --------
        >>> package_function("replicator").summary()  # doctest: +ELLIPSIS
        'zip of ... KB, 1 file, no bundled library'
        """
        kib = self.size / 1024
        size = f"{kib:.1f} KB" if kib < 1024 else f"{kib / 1024:.2f} MB"
        count = f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}"
        libraries = ", ".join(f"{name} {version}" for name, version in self.bundled)
        return f"zip of {size}, {count}, " + (
            f"bundles {libraries}" if libraries else "no bundled library"
        )


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
    known_function = workshop_function(name)
    folder = known_function[0] if known_function else name
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
    if relative.as_posix() == REQUIREMENTS_FILE:  # read by the packager, not by Lambda
        return False
    return not (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py")


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = _MADE_BY_UNIX
    info.external_attr = (_REGULAR_FILE | FILE_MODE) << 16
    return info


def zip_sources(files: dict[str, str]) -> bytes:
    """A deployment package holding ``files`` (name -> source text), byte-stable.

    For code written inline (tests, benchmarks); a workshop function is packaged
    from its folder by :func:`package_function`.

    Examples
    --------
    >>> zip_sources({"app.py": "x = 1"}) == zip_sources({"app.py": "x = 1"})
    True
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in sorted(files.items()):
            archive.writestr(_entry(name), source)
    return buffer.getvalue()


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
    distributions = bundled_distributions(requirements_of(source_dir))
    entries = dict(selected)
    for distribution in distributions:
        for name, path in distribution_files(distribution):
            if name in entries:
                raise PackagingError(
                    f"{name} is both in {source_dir} and in the bundled "
                    f"{distribution.metadata['Name']}: rename the function's file"
                )
            entries[name] = path
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            archive.writestr(_entry(name), entries[name].read_bytes())
    zip_bytes = buffer.getvalue()
    return FunctionPackage(
        zip_bytes=zip_bytes,
        code_sha256=code_sha256(zip_bytes),
        files=tuple(sorted(entries)),
        bundled=tuple(
            sorted((canonicalize_name(d.metadata["Name"]), d.version) for d in distributions)
        ),
    )


def requirements_of(source_dir: Path) -> list[Requirement]:
    """The libraries a function folder asks for in its ``requirements.txt``.

    Parameters
    ----------
    source_dir : Path
        The function's folder.

    Returns
    -------
    list of packaging.requirements.Requirement
        In file order; empty when there is no ``requirements.txt``. Lines whose
        environment marker does not apply are left out.

    Raises
    ------
    PackagingError
        A line is not a requirement (pip options such as ``-r`` or ``--hash`` included),
        or names a URL: only installed copies are bundled.
    """
    path = Path(source_dir) / REQUIREMENTS_FILE
    if not path.is_file():
        return []
    requirements = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            raise PackagingError(f"{path}:{number}: not a requirement ({error})") from None
        if requirement.url:
            raise PackagingError(
                f"{path}:{number}: {text!r} names a URL; list the distribution's name and "
                "pin it in requirements.lock"
            )
        if requirement.marker is None or requirement.marker.evaluate():
            requirements.append(requirement)
    return requirements


def _installed(requirement: Requirement, wanted_by: str) -> importlib.metadata.Distribution:
    try:
        distribution = importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        raise PackagingError(
            f"{requirement.name} (wanted by {wanted_by}) is not installed in this environment: "
            "add it to pyproject.toml and run `make lock`, then `make setup`"
        ) from None
    if not requirement.specifier.contains(distribution.version, prereleases=True):
        raise PackagingError(
            f"{wanted_by} wants {requirement}, but {distribution.version} is installed "
            "(the version comes from requirements.lock)"
        )
    return distribution


def bundled_distributions(
    requirements: list[Requirement],
) -> list[importlib.metadata.Distribution]:
    """The installed distributions to bundle: the requirements and their dependencies.

    Parameters
    ----------
    requirements : list of packaging.requirements.Requirement
        What the function folder names (see :func:`requirements_of`).

    Returns
    -------
    list of importlib.metadata.Distribution
        Each at most once, without :data:`RUNTIME_PROVIDED` ones. Dependencies behind an
        extra are followed only when the requirement asks for that extra; environment
        markers are evaluated for this interpreter.

    Raises
    ------
    PackagingError
        A distribution is not installed, or its installed version does not satisfy the
        requirement.
    """
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = [(requirement, REQUIREMENTS_FILE) for requirement in requirements]
    while todo:
        requirement, wanted_by = todo.pop(0)
        key = canonicalize_name(requirement.name)
        if key in RUNTIME_PROVIDED or key in found:
            continue
        distribution = _installed(requirement, wanted_by)
        found[key] = distribution
        extras = sorted(requirement.extras) or [""]
        for text in distribution.requires or []:
            dependency = Requirement(text)
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in extras):
                todo.append((dependency, f"{distribution.metadata['Name']} {distribution.version}"))
    return list(found.values())


def distribution_files(distribution: importlib.metadata.Distribution) -> list[tuple[str, Path]]:
    """The files of an installed distribution that go into a zip, as (entry name, path).

    Parameters
    ----------
    distribution : importlib.metadata.Distribution
        An installed, pure-Python distribution.

    Returns
    -------
    list of (str, Path)
        Module and data files relative to ``site-packages``, plus the ``.dist-info``
        files that do not depend on the installer; no caches, no scripts.

    Raises
    ------
    PackagingError
        The distribution lists no files, or holds a compiled extension (built for this
        machine, not for Lambda's).
    """
    name = distribution.metadata["Name"]
    if distribution.files is None:
        raise PackagingError(f"{name} was installed without a file list (RECORD): reinstall it")
    selected = []
    for file in distribution.files:
        parts = file.parts
        if parts[0] == ".." or "__pycache__" in parts or file.suffix in _EXCLUDED_SUFFIXES:
            continue
        if file.suffix in (".so", ".pyd", ".dylib"):
            raise PackagingError(
                f"{name} holds a compiled extension ({file}): it cannot be bundled from this "
                "machine; use a Lambda layer built for the function's runtime instead"
            )
        if parts[0].endswith(".dist-info"):
            licence = "licenses" in parts or parts[-1].upper().startswith(("LICENSE", "COPYING"))
            if not (licence or parts[-1] in _DIST_INFO_KEPT):
                continue
        path = Path(str(file.locate()))
        if not path.is_file():
            raise PackagingError(f"{name} lists {file}, which is missing: reinstall it")
        selected.append((file.as_posix(), path))
    return selected


def package_function(name: str, base_dir: Path | None = None) -> FunctionPackage:
    """Shortcut: ``build_zip(function_source_dir(name, base_dir))``."""
    return build_zip(function_source_dir(name, base_dir))
