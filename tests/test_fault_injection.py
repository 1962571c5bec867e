"""tests/worker_kill.py without Spark: outside a task (or on a retry) a task's outputs pass through
untouched; on a first attempt the first output comes out, then the marker file and the worker's exit."""
import pytest

import worker_kill


def test_outside_a_task_passes_the_iterator_on_as_it_is(tmp_path):
    outputs = iter([1, 2, 3])
    assert worker_kill.kill_after_first(outputs, str(tmp_path)) is outputs  # TaskContext.get() is None


def test_a_first_attempt_gives_the_first_output_then_writes_the_marker_and_exits(tmp_path, monkeypatch):
    marker = tmp_path / "3-1-42"
    monkeypatch.setattr(worker_kill, "_marker", lambda markers: str(marker))

    def exit_(code):
        raise SystemExit(code)

    monkeypatch.setattr(worker_kill.os, "_exit", exit_)
    outputs = worker_kill.kill_after_first(iter(["first", "second"]), str(tmp_path))
    assert next(outputs) == "first" and not marker.exists()
    with pytest.raises(SystemExit) as exited:
        next(outputs)
    assert exited.value.code == worker_kill.KILLED_EXIT_CODE and marker.exists()
    assert list(worker_kill.kill_after_first(iter([]), str(tmp_path))) == []  # no output: no fault
