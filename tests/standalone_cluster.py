"""A real Spark standalone cluster on 127.0.0.1 from the pip-installed pyspark: one master and N
workers (1 core each), started with `spark-class`, stopped (every JVM it started, by pid) on exit.

    with StandaloneCluster(tmp_dir, workers=2) as cluster:
        subprocess.run([sys.executable, "driver.py", "--master", cluster.master_url], env=cluster.env)

SPARK_HOME is a folder of symlinks to the package's bin, sbin, jars and python, so logs and work
dirs stay in tmp_dir, not in the virtualenv. Ports are chosen free at start.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pyspark

HOST = "127.0.0.1"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
EXECUTOR_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def worker_host(index: int) -> str:
    """Worker i listens on 127.0.0.(i + 2): all of 127/8 is loopback, and Spark tells the workers apart."""
    return f"127.0.0.{index + 2}"


def spark_env() -> dict[str, str]:
    """The environment every cluster JVM and driver needs: Python workers run this interpreter."""
    env = dict(os.environ)
    env.update(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable, SPARK_LOCAL_IP=HOST)
    return env


def link_spark_home(folder: str) -> str:
    """A SPARK_HOME whose bin, sbin, jars and python point into the pip package."""
    package = os.path.dirname(pyspark.__file__)
    os.makedirs(folder, exist_ok=True)
    for name in ("bin", "sbin", "jars", "python"):
        link = os.path.join(folder, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join(package, name), link)
    return folder


class StandaloneCluster:
    def __init__(self, root: str, workers: int = 2, worker_memory: str = "2g", start_timeout_s: float = 120.0):
        self.root = root
        self.num_workers = workers
        self.worker_memory = worker_memory
        self.start_timeout_s = start_timeout_s
        self.spark_home = link_spark_home(os.path.join(root, "spark_home"))
        self.env = {**spark_env(), "SPARK_HOME": self.spark_home, "SPARK_LOG_DIR": os.path.join(root, "logs"),
                    "SPARK_NO_DAEMONIZE": "1"}
        self.port = free_port()
        self.master_url = f"spark://{HOST}:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.logs: list[str] = []

    # -- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> "StandaloneCluster":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._launch("master", MASTER_CLASS, "--host", HOST, "--port", str(self.port),
                     "--webui-port", str(free_port()))
        for i in range(self.num_workers):
            work_dir = os.path.join(self.root, f"work{i}")
            os.makedirs(work_dir, exist_ok=True)
            host = worker_host(i)  # a host each: Spark never runs a speculative copy on its original's host
            self._launch(f"worker{i}", WORKER_CLASS, self.master_url, "--host", host, "--cores", "1",
                         "--memory", self.worker_memory, "--work-dir", work_dir, "--webui-port", str(free_port()),
                         env={**self.env, "SPARK_LOCAL_IP": host})
        self.wait_for(lambda: self.master_log().count("Registering worker") >= self.num_workers,
                      f"{self.num_workers} workers to register with the master")

    def stop(self) -> None:
        """Kill every JVM this cluster started: executors (children of the workers) first, then the
        workers and the master, each by pid; wait for them so no port or file stays held."""
        for pid in self.executor_pids():
            _kill(pid)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()

    def _launch(self, name: str, cls: str, *args: str, env: dict | None = None) -> None:
        log = os.path.join(self.root, f"{name}.log")
        self.logs.append(log)
        with open(log, "wb") as out:  # spark-class execs java: the Popen pid is the JVM's
            proc = subprocess.Popen([os.path.join(self.spark_home, "bin", "spark-class"), cls, *args],
                                    stdout=out, stderr=subprocess.STDOUT, env=env or self.env, cwd=self.root,
                                    start_new_session=True)
        self.procs.append(proc)

    # -- inspection ---------------------------------------------------------------------------------
    def master_log(self) -> str:
        return _read(self.logs[0])

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(f"== {os.path.basename(p)} ==\n{_read(p)[-chars:]}" for p in self.logs)

    def wait_for(self, condition, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while not condition():
            dead = [p.args[1] for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                reason = f"exited: {dead}" if dead else f"timed out after {self.start_timeout_s:.0f} s"
                raise RuntimeError(f"waiting for {what}: {reason}\n{self.log_tail()}")
            time.sleep(0.5)

    def executor_pids(self) -> list[int]:
        """Executor JVMs the workers launched (direct children of a worker JVM)."""
        workers = {p.pid for p in self.procs[1:] if p.poll() is None}
        return [pid for pid, parent in _processes() if parent in workers and EXECUTOR_CLASS in _cmdline(pid)]


def _processes():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat")
            match = re.match(r"\d+ \(.*\) \S (\d+)", stat, re.S)
            if match:
                yield int(entry), int(match.group(1))


def _cmdline(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace("\0", " ")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
