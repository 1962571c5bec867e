"""udfs/fault_injection.py without Spark: unset, a task's outputs pass through untouched (no code per
batch); asked, the first output comes out, then the marker file and the worker's exit."""
import pytest

from sparklong.udfs import fault_injection


def test_unset_passes_the_iterator_on_as_it_is():
    outputs = iter([1, 2, 3])
    assert fault_injection.kill_after_first(outputs) is outputs  # outside a task: TaskContext.get() is None


def test_asked_gives_the_first_output_then_writes_the_marker_and_exits(tmp_path, monkeypatch):
    marker = tmp_path / "3-1-42"
    monkeypatch.setattr(fault_injection, "_marker", lambda: str(marker))

    def exit_(code):
        raise SystemExit(code)

    monkeypatch.setattr(fault_injection.os, "_exit", exit_)
    outputs = fault_injection.kill_after_first(iter(["first", "second"]))
    assert next(outputs) == "first" and not marker.exists()
    with pytest.raises(SystemExit) as exited:
        next(outputs)
    assert exited.value.code == fault_injection.KILLED_EXIT_CODE and marker.exists()
    assert list(fault_injection.kill_after_first(iter([]))) == []  # no output: no fault
