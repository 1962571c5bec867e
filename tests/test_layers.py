"""The layers' import rules, read from the source: cores/ is Spark-free and Arrow-free and imports no layer
above it (nor params.py, which is pyspark); udfs/ (the Arrow runtime) imports no annotators/ or jobs/."""
import ast
import pathlib
import subprocess
import sys

import sparklong

PACKAGE = pathlib.Path(sparklong.__file__).parent
ABOVE_CORES = ("sparklong.annotators", "sparklong.jobs", "sparklong.udfs", "sparklong.params", "pyspark", "pyarrow")
ABOVE_UDFS = ("sparklong.annotators", "sparklong.jobs")


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every module a file imports, at the top or inside a function, relative imports made absolute."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.update([base] if node.module else [f"{base}.{alias.name}" for alias in node.names])
    return found


def offending(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    paths = sorted((PACKAGE / folder).glob("*.py"))
    assert paths, f"no sources in {PACKAGE / folder}"
    bad = {}
    for path in paths:
        hits = sorted(m for m in imported_modules(path) if any(m == f or m.startswith(f + ".") for f in forbidden))
        if hits:
            bad[path.name] = hits
    return bad


def test_cores_import_nothing_above_them():
    assert offending("cores", ABOVE_CORES) == {}


def test_udfs_import_no_annotators_or_jobs():
    assert offending("udfs", ABOVE_UDFS) == {}


def test_importing_every_core_loads_neither_pyspark_nor_pyarrow():
    """Also what the cores import through models/ and the package's top level."""
    modules = [f"sparklong.cores.{p.stem}" for p in sorted((PACKAGE / "cores").glob("*.py")) if p.stem != "__init__"]
    script = ("import importlib, sys\n"
              f"for name in {modules!r}: importlib.import_module(name)\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyspark', 'pyarrow'}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_import_reader_sees_relative_and_local_imports(tmp_path, monkeypatch):
    """The rule above is only as good as imported_modules: a file with each kind of import."""
    folder = tmp_path / "sparklong" / "cores"
    folder.mkdir(parents=True)
    source = folder / "example.py"
    source.write_text("from ..annotators import tokenizer\nfrom . import windows\nimport pyarrow as pa\n"
                      "def f():\n    from ..udfs.model_cache import get_model\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "sparklong")
    assert imported_modules(source) == {"sparklong.annotators", "sparklong.cores.windows", "pyarrow",
                                        "sparklong.udfs.model_cache"}
    assert offending("cores", ABOVE_CORES) == {"example.py": ["pyarrow", "sparklong.annotators",
                                                              "sparklong.udfs.model_cache"]}
