"""Unit tests for :mod:`helpers.packaging` (reproducible Lambda zips)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import zipfile
import zipimport
from pathlib import Path

import pytest

from helpers.packaging import (
    FUNCTION_FOLDERS,
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

REPO_ROOT = Path(__file__).resolve().parents[2]


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


# --- libraries named in requirements.txt ----------------------------------------------

POWERTOOLS = "aws-lambda-powertools"

#: What the Lambda Python runtime brings besides the standard library (import names).
RUNTIME_MODULES = ("boto3", "botocore", "jmespath", "s3transfer", "urllib3", "dateutil", "six")


@pytest.fixture
def powertools_source(tmp_path: Path) -> Path:
    folder = tmp_path / "fn_with_powertools"
    folder.mkdir()
    (folder / "app.py").write_text("import aws_lambda_powertools\n")
    (folder / "requirements.txt").write_text(f"# bundled\n{POWERTOOLS}\n")
    return folder


def _write_requirements(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text("X = 1\n")
    (folder / "requirements.txt").write_text(text)
    return folder


def test_named_library_is_bundled_at_the_pinned_installed_version(powertools_source):
    # given
    installed = importlib.metadata.version(POWERTOOLS)

    # when
    package = build_zip(powertools_source)

    # then
    assert (POWERTOOLS, installed) in package.bundled
    assert "aws_lambda_powertools/__init__.py" in package.files
    assert "aws_lambda_powertools/utilities/batch/base.py" in package.files
    assert f"aws_lambda_powertools-{installed}.dist-info/METADATA" in package.files


def test_dependencies_are_bundled_but_not_what_the_runtime_provides(powertools_source):
    # given / when
    package = build_zip(powertools_source)

    # then: typing-extensions is a Powertools dependency; jmespath ships with boto3
    assert "typing_extensions.py" in package.files
    assert not any(name.startswith(("jmespath", "boto3", "botocore")) for name in package.files)
    assert {name for name, _ in package.bundled} == {POWERTOOLS, "typing-extensions"}


def test_bundle_has_no_caches_installer_files_or_requirements_file(powertools_source):
    # given / when
    files = build_zip(powertools_source).files

    # then
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert not [f for f in files if f.endswith(("/RECORD", "/INSTALLER", "/REQUESTED"))]
    assert "requirements.txt" not in files


def test_bundle_is_reproducible(powertools_source):
    # given / when
    first, second = build_zip(powertools_source), build_zip(powertools_source)

    # then
    assert first.zip_bytes == second.zip_bytes


def test_summary_reports_the_zip_size_and_the_bundled_versions(powertools_source):
    # given
    package = build_zip(powertools_source)

    # when
    summary = package.summary()

    # then
    assert f"{package.size / 1024**2:.2f} MB" in summary
    assert f"{POWERTOOLS} {importlib.metadata.version(POWERTOOLS)}" in summary


def test_folder_without_requirements_bundles_nothing():
    # given / when
    package = package_function("stream_processor")

    # then
    assert package.bundled == ()
    assert package.files == ("app.py",)
    assert "no bundled library" in package.summary()


def test_a_library_that_is_not_installed_is_refused_with_the_fix(tmp_path):
    # given
    folder = _write_requirements(tmp_path / "fn", "surely-not-installed-distribution\n")

    # when / then
    with pytest.raises(PackagingError, match="make lock"):
        build_zip(folder)


def test_a_version_the_lock_file_does_not_pin_is_refused(tmp_path):
    # given
    folder = _write_requirements(tmp_path / "fn", f"{POWERTOOLS}<1\n")

    # when / then
    with pytest.raises(PackagingError, match=re.escape("requirements.lock")):
        build_zip(folder)


@pytest.mark.parametrize(
    "line", ["-r other.txt", f"{POWERTOOLS} @ https://example.com/pt.whl", "--hash=sha256:00"]
)
def test_lines_that_would_need_a_download_are_refused(tmp_path, line):
    # given
    folder = _write_requirements(tmp_path / "fn", f"{line}\n")

    # when / then
    with pytest.raises(PackagingError, match=re.escape("requirements.txt:1")):
        build_zip(folder)


def test_a_library_with_compiled_code_is_refused(tmp_path):
    # given: psutil ships a C extension built for this machine
    folder = _write_requirements(tmp_path / "fn", "psutil\n")

    # when / then
    with pytest.raises(PackagingError, match="compiled extension"):
        build_zip(folder)


def test_production_variants_bundle_powertools():
    # given / when
    packages = {name: package_function(name) for name in FUNCTION_FOLDERS}

    # then
    bundles = {name: dict(package.bundled).get(POWERTOOLS) for name, package in packages.items()}
    assert bundles == {
        "stream_processor": None,
        "replicator": None,
        "stream_processor_production": importlib.metadata.version(POWERTOOLS),
        "replicator_production": importlib.metadata.version(POWERTOOLS),
        "tumbling_totals": None,
    }


@pytest.fixture(scope="module")
def lambda_runtime_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only what the Lambda Python runtime adds to the standard library."""
    folder = tmp_path_factory.mktemp("runtime")
    for module in RUNTIME_MODULES:
        spec = importlib.util.find_spec(module)
        origin = Path(spec.origin)
        target = origin.parent if origin.name == "__init__.py" else origin
        (folder / target.name).symlink_to(target)
    return folder


_RUN_IN_ISOLATION = """
import importlib, json, sys
task_root, runtime, handler, event = sys.argv[1:5]
sys.path[:0] = [task_root, runtime]
module_name, function_name = handler.rsplit(".", 1)
module = importlib.import_module(module_name)
result = {"loaded_from": {name: getattr(sys.modules[name], "__file__", None)
                          for name in ("aws_lambda_powertools", "typing_extensions")
                          if name in sys.modules}}
if event:
    result["response"] = getattr(module, function_name)(json.loads(event), None)
print(json.dumps(result))
"""


@pytest.mark.parametrize("folder", sorted(FUNCTION_FOLDERS))
def test_each_zip_runs_with_only_the_lambda_runtimes_libraries(
    folder, tmp_path, lambda_runtime_path
):
    # given: the zip unpacked as Lambda's task root, and no site-packages (python -S)
    task_root = tmp_path / "task"
    with zipfile.ZipFile(io.BytesIO(package_function(folder).zip_bytes)) as archive:
        archive.extractall(task_root)
    event = ""
    if folder.startswith("stream_processor"):
        event = (REPO_ROOT / "tests" / "events" / "ecommerce_poison_batch.json").read_text()

    # when
    completed = subprocess.run(
        [sys.executable, "-S", "-I", "-c", _RUN_IN_ISOLATION, str(task_root),
         str(lambda_runtime_path), FUNCTION_FOLDERS[folder], event],
        capture_output=True, text=True, timeout=120, env={"AWS_DEFAULT_REGION": "us-east-1"},
    )

    # then
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    for name, path in result["loaded_from"].items():
        assert path.startswith(str(task_root)), f"{name} came from {path}"
    if folder == "stream_processor_production":
        assert "aws_lambda_powertools" in result["loaded_from"]
        assert result["response"] == {
            "batchItemFailures": [{"itemIdentifier": "400000000000000000000000402"}]
        }
    elif folder == "stream_processor":
        assert json.loads(result["response"]["body"])["processed_count"] == 3


def test_a_prefixed_workshop_function_is_packaged_from_its_folder():
    # given: the notebooks' name_prefix in front of a workshop function's name
    from helpers.packaging import function_source_dir, workshop_function

    # when
    folder = function_source_dir("alice-demo-dynamodb-stream-processor")
    # then
    assert folder.name == "stream_processor"
    assert workshop_function("alice-ddbreplica_lambda") == ("replicator",
                                                            "ddbreplica_lambda.lambda_handler")
    assert workshop_function("not-a-workshop-function") is None


def test_a_folder_is_never_taken_for_another_folder_ending_with_its_name():
    # given: lambda_src/region_replicator beside lambda_src/replicator
    from helpers.packaging import function_source_dir, workshop_function

    # when
    folder = function_source_dir("region_replicator")
    # then
    assert folder.name == "region_replicator"
    assert workshop_function("region_replicator") is None


def test_inline_sources_zip_the_same_bytes_every_time_with_each_file_readable():
    # given
    from helpers.packaging import zip_sources

    files = {"app.py": "def handler(e, c):\n    return 1\n", "lib/util.py": "X = 2\n"}
    # when
    first, second = zip_sources(files), zip_sources(dict(reversed(files.items())))
    # then
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == ["app.py", "lib/util.py"]
        assert archive.read("lib/util.py") == b"X = 2\n"
