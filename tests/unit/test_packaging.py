"""Unit tests for :mod:`helpers.packaging` (reproducible Lambda zips)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import logging
import os
import shutil
import sys
import zipfile
import zipimport
from pathlib import Path

import pytest

from helpers.packaging import (
    LAMBDA_SRC_DIR,
    WORKSHOP_FUNCTIONS,
    FunctionPackage,
    PackagingError,
    build_zip,
    code_sha256,
    function_source_dir,
    is_packaged,
    package_function,
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A small function folder with files that must and must not be packaged."""
    folder = tmp_path / "fn"
    files = {
        "app.py": "def lambda_handler(event, context):\n    return event\n",
        "lib/util.py": "VALUE = 1\n",
        "lib/data.json": "{}\n",
        "README.md": "# docs\n",
        "readme.txt": "notes\n",
        "__pycache__/app.cpython-311.pyc": "",
        "lib/__pycache__/util.cpython-311.pyc": "",
        "stale.pyc": "",
        "tests/test_app.py": "",
        "test_local.py": "",
        "util_test.py": "",
        "conftest.py": "",
        ".env": "SECRET=1\n",
        ".cache/x.py": "",
    }
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_only_code_and_data_files_are_packaged_in_sorted_order(source):
    # given / when
    package = build_zip(source)

    # then
    assert package.files == ("app.py", "lib/data.json", "lib/util.py")
    names = zipfile.ZipFile(io.BytesIO(package.zip_bytes)).namelist()
    assert names == list(package.files)


def test_building_twice_gives_the_same_bytes(source):
    # given / when
    first, second = build_zip(source), build_zip(source)

    # then
    assert first.zip_bytes == second.zip_bytes
    assert first.code_sha256 == second.code_sha256


def test_file_times_and_permissions_do_not_change_the_bytes(source):
    # given
    before = build_zip(source)
    app = source / "app.py"
    os.utime(app, (1_900_000_000, 1_900_000_000))
    app.chmod(0o755)

    # when
    after = build_zip(source)

    # then
    assert after.zip_bytes == before.zip_bytes


def test_entries_have_fixed_dates_permissions_and_no_compression(source):
    # given / when
    archive = zipfile.ZipFile(io.BytesIO(build_zip(source).zip_bytes))

    # then
    for info in archive.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert (info.external_attr >> 16) & 0o777 == 0o644
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.create_system == 3


def test_code_sha256_changes_when_a_file_changes(source):
    # given
    before = build_zip(source)

    # when
    (source / "lib" / "util.py").write_text("VALUE = 2\n")
    after = build_zip(source)

    # then
    assert after.code_sha256 != before.code_sha256


def test_excluded_files_do_not_change_code_sha256(source):
    # given
    before = build_zip(source)

    # when
    (source / "README.md").write_text("# changed docs\n")
    (source / "__pycache__" / "other.pyc").write_bytes(b"\x00")
    after = build_zip(source)

    # then
    assert after.code_sha256 == before.code_sha256


def test_code_sha256_is_base64_of_the_raw_sha256_digest(source):
    # given
    package = build_zip(source)

    # when
    expected = base64.b64encode(hashlib.sha256(package.zip_bytes).digest()).decode()

    # then
    assert package.code_sha256 == expected == code_sha256(package.zip_bytes)
    assert len(package.code_sha256) == 44
    assert code_sha256(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_folder_without_python_code_is_refused(tmp_path):
    # given
    (tmp_path / "README.md").write_text("only docs\n")

    # when / then
    with pytest.raises(PackagingError, match="no Python file"):
        build_zip(tmp_path)


def test_missing_folder_is_refused(tmp_path):
    # given / when / then
    with pytest.raises(PackagingError, match="not a folder"):
        build_zip(tmp_path / "absent")


@pytest.mark.parametrize(
    ("relative", "packaged"),
    [
        ("app.py", True),
        ("pkg/module.py", True),
        ("pkg/__pycache__/module.cpython-312.pyc", False),
        ("module.pyc", False),
        ("tests/test_module.py", False),
        ("test_module.py", False),
        ("conftest.py", False),
        ("README.md", False),
        (".DS_Store", False),
    ],
)
def test_is_packaged_applies_the_exclusion_rules(relative, packaged):
    # given / when / then
    assert is_packaged(Path(relative)) is packaged


@pytest.mark.parametrize("name", ["replicator", "ddbreplica_lambda"])
def test_function_source_dir_accepts_folder_or_function_name(name):
    # given / when
    path = function_source_dir(name)

    # then
    assert path == LAMBDA_SRC_DIR / "replicator"


def test_unknown_function_is_refused_with_the_known_names():
    # given / when / then
    with pytest.raises(PackagingError, match="stream_processor"):
        function_source_dir("no_such_function")


@pytest.mark.parametrize("function_name", sorted(WORKSHOP_FUNCTIONS))
def test_workshop_functions_package_reproducibly_without_docs(function_name):
    # given / when
    first = package_function(function_name)
    second = package_function(function_name)

    # then
    assert isinstance(first, FunctionPackage)
    assert first.zip_bytes == second.zip_bytes
    assert "README.md" not in first.files
    assert all("__pycache__" not in name for name in first.files)
    assert first.size == len(first.zip_bytes)


@pytest.mark.parametrize("function_name", sorted(WORKSHOP_FUNCTIONS))
def test_handler_string_resolves_inside_the_zip(function_name, tmp_path):
    # given
    handler = WORKSHOP_FUNCTIONS[function_name][1]
    module_name, attribute = handler.rsplit(".", 1)
    zip_path = tmp_path / "function.zip"
    zip_path.write_bytes(package_function(function_name).zip_bytes)

    root_level = logging.getLogger().level

    # when
    spec = zipimport.zipimporter(str(zip_path)).find_spec(module_name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)

        # then
        assert callable(getattr(module, attribute))
        assert module.__file__.startswith(str(zip_path))
    finally:
        sys.modules.pop(spec.name, None)
        logging.getLogger().setLevel(root_level)


def test_copied_folder_gives_the_same_code_sha256(tmp_path):
    # given: the same sources somewhere else on disk
    copy = tmp_path / "copy"
    shutil.copytree(
        function_source_dir("stream_processor"),
        copy,
        ignore=shutil.ignore_patterns("__pycache__"),
    )

    # when / then
    assert build_zip(copy).code_sha256 == package_function("stream_processor").code_sha256
