"""The package's layers import one way. Each file's import statements (those inside functions too) are
read with ast and resolved to module names, so a lazy import cannot hide an arrow that runs up. cores/ is
Spark-free and Arrow-free (nor params.py, which is pyspark); udfs/ (the Arrow runtime) imports no
annotators/ or jobs/; params.py, imported for its Params mixins and constants, loads no torch."""
import ast
import os
import subprocess
import sys

import pytest

import sparklong

PACKAGE_DIR = os.path.dirname(sparklong.__file__)
REPO_ROOT = os.path.dirname(PACKAGE_DIR)

# A file or folder under sparklong/ -> the modules it must never import (sparklong's parts by their
# name under sparklong/, other packages by their full name).
NEVER_IMPORTS = {
    "annotators": ("jobs",),
    "cores": ("annotators", "jobs", "udfs", "params", "pyspark", "pyarrow"),
    "udfs": ("annotators", "jobs"),
    "storage": ("annotators", "jobs", "udfs"),
    "engine_choice.py": ("annotators", "jobs"),
    "models": ("annotators", "jobs", "udfs", "storage", "params"),
}
OUTSIDE = ("pyspark", "pyarrow")


def python_files(part: str) -> list[str]:
    path = os.path.join(PACKAGE_DIR, part)
    if os.path.isfile(path):
        return [path]
    return sorted(os.path.join(parent, name) for parent, _, names in os.walk(path)
                  for name in names if name.endswith(".py"))


def module_name(path: str) -> str:
    """sparklong/jobs/runner.py -> sparklong.jobs.runner; a package's __init__.py -> the package."""
    parts = os.path.relpath(path[: -len(".py")], REPO_ROOT).split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: str) -> set[str]:
    """Every module an import statement in the file names, relative ones resolved; for `from X import y`
    both X and X.y (y may be a submodule)."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    name = module_name(path)
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_module_names_resolve_relative_imports():
    """The resolver itself: `..` from a module in a subpackage reaches the package's top."""
    runner = os.path.join(PACKAGE_DIR, "jobs", "runner.py")
    assert module_name(runner) == "sparklong.jobs.runner"
    assert "sparklong.storage.output_folder" in imported_modules(runner)
    assert "sparklong.jobs.engine_flags" in imported_modules(runner)


@pytest.mark.parametrize("part", sorted(NEVER_IMPORTS))
def test_layer_imports_run_one_way(part):
    files = python_files(part)
    assert files, f"sparklong/{part} has no Python files"
    forbidden = tuple(layer if layer in OUTSIDE else f"sparklong.{layer}" for layer in NEVER_IMPORTS[part])
    arrows = sorted(f"{module_name(path)} imports {imported}" for path in files
                    for imported in imported_modules(path)
                    if any(imported == layer or imported.startswith(layer + ".") for layer in forbidden))
    assert arrows == []


def test_importing_params_loads_no_torch():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))}
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, sparklong.params; print('torch' in sys.modules)"],
        env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"


def test_importing_every_core_loads_neither_pyspark_nor_pyarrow():
    """Also what the cores import through models/ and the package's top level."""
    modules = [module_name(path) for path in python_files("cores") if not path.endswith("__init__.py")]
    script = ("import importlib, sys\n"
              f"for name in {modules!r}: importlib.import_module(name)\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyspark', 'pyarrow'}))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
