"""Measuring a stage: wall time, CPU of this process and of Postgres, peak memory, load of the machine.

Linux only (it reads /proc). The process's peak memory is its high-water mark (VmHWM), reset
at the start of each stage. Postgres runs as many processes that come and go, so its memory is
sampled: every process's private memory summed, plus the largest shared-memory footprint
(shared buffers are counted once). Postgres CPU includes backends that exited during the stage
(their time is added to the postmaster's children time when it reaps them).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.25


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: index 0 is field 3 (state), index 1 the parent pid."""
    text = _read(f"/proc/{pid}/stat")
    return text[text.rfind(")") + 2 :].split() if text else None


def _status_kib(pid: int, *keys: str) -> dict[str, int]:
    values = dict.fromkeys(keys, 0)
    for line in (_read(f"/proc/{pid}/status") or "").splitlines():
        name, _, rest = line.partition(":")
        if name in values:
            values[name] = int(rest.split()[0])
    return values


def process_peak_bytes() -> int:
    """This process's resident high-water mark since the last reset."""
    kib = _status_kib(os.getpid(), "VmHWM")["VmHWM"]
    return kib * 1024 if kib else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_process_peak() -> bool:
    """Reset VmHWM to the current resident size (Linux >= 4.0); False when not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores together."""
    fields = [int(v) for v in (_read("/proc/stat") or "cpu 0 0 0 0").splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user time
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


@dataclass
class PostgresProcesses:
    """The postmaster of one server and its children (backends, workers, checkpointer...)."""

    postmaster_pid: int

    @classmethod
    def of_data_directory(cls, pgdata: Path) -> PostgresProcesses:
        return cls(int((pgdata / "postmaster.pid").read_text().splitlines()[0]))

    def children(self) -> list[int]:
        parent = str(self.postmaster_pid)
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                fields = _stat_fields(int(entry))
                if fields and fields[1] == parent:
                    pids.append(int(entry))
        return pids

    def cpu_seconds(self) -> float:
        ticks = 0
        main = _stat_fields(self.postmaster_pid)
        if main:
            ticks += sum(int(v) for v in main[11:15])  # utime, stime, cutime, cstime
        for pid in self.children():
            fields = _stat_fields(pid)
            if fields:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / CLOCK_TICKS

    def memory_bytes(self) -> int:
        """Private memory of every process plus the largest shared-memory footprint."""
        private, shared = 0, 0
        for pid in (self.postmaster_pid, *self.children()):
            kib = _status_kib(pid, "RssAnon", "RssShmem")
            private += kib["RssAnon"]
            shared = max(shared, kib["RssShmem"])
        return (private + shared) * 1024


class _PeakSampler(threading.Thread):
    """Samples Postgres memory in the background; `take()` returns the peak since the last take."""

    def __init__(self, postgres: PostgresProcesses):
        super().__init__(name="postgres-memory-sampler", daemon=True)
        self.postgres = postgres
        self.peak = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(SAMPLE_SECONDS):
            self.sample()

    def sample(self) -> None:
        value = self.postgres.memory_bytes()
        with self.lock:
            self.peak = max(self.peak, value)

    def take(self) -> int:
        self.sample()
        with self.lock:
            peak, self.peak = self.peak, 0
        return peak


@dataclass
class Reference:
    """A physical-limit reference measured in the same run on the same input."""

    name: str
    seconds: float
    rows: int | None = None
    note: str = ""

    def as_dict(self, stage_seconds: float) -> dict:
        return {
            "name": self.name,
            # a reference can take milliseconds: the report's ratio is computed from this value
            "seconds": round(self.seconds, 6),
            "rows": self.rows,
            "rows_per_second": _rate(self.rows, self.seconds),
            # > 1: the stage takes that many times the reference's time; its speed is 1 / ratio.
            "time_ratio": round(stage_seconds / self.seconds, 2) if self.seconds > 0 else None,
            "note": self.note,
        }


@dataclass
class StageResult:
    day: str
    stage: str
    seconds: float = 0.0
    rows: int | None = None
    unit: str = "rows"
    part_of: str | None = None  # a share of another stage (dbt layers), not counted twice
    cpu_seconds: float | None = None
    postgres_cpu_seconds: float | None = None
    other_cpu_seconds: float | None = None
    peak_rss_bytes: int | None = None
    postgres_peak_bytes: int | None = None
    reference: Reference | None = None
    detail: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def rows_per_second(self) -> float | None:
        return _rate(self.rows, self.seconds)

    def as_dict(self) -> dict:
        return {
            "day": self.day,
            "stage": self.stage,
            "part_of": self.part_of,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
            "unit": self.unit,
            "rows_per_second": self.rows_per_second,
            "cpu_seconds": _round(self.cpu_seconds),
            "postgres_cpu_seconds": _round(self.postgres_cpu_seconds),
            "other_cpu_seconds": _round(self.other_cpu_seconds),
            "peak_rss_bytes": self.peak_rss_bytes,
            "postgres_peak_bytes": self.postgres_peak_bytes,
            "reference": self.reference.as_dict(self.seconds) if self.reference else None,
            "detail": self.detail,
            "error": self.error,
        }


def _rate(rows: int | None, seconds: float) -> float | None:
    return round(rows / seconds, 1) if rows is not None and seconds > 0 else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class Meter:
    """Runs stages one after another and keeps what each one cost."""

    def __init__(self, postgres: PostgresProcesses):
        self.postgres = postgres
        self.results: list[StageResult] = []
        self.sampler = _PeakSampler(postgres)
        self.peak_resettable = reset_process_peak()
        self.started = time.perf_counter()
        self.machine_start = machine_cpu()
        self.load_start = load_average()

    def __enter__(self) -> Meter:
        self.sampler.start()
        return self

    def __exit__(self, *exc) -> None:
        self.sampler.stopping.set()
        self.sampler.join()

    @contextmanager
    def stage(self, day: str, name: str, unit: str = "rows") -> Iterator[StageResult]:
        """Measure the block; the block fills in rows, detail and reference. Errors are recorded, not raised."""
        result = StageResult(day, name, unit=unit)
        reset_process_peak()
        self.sampler.take()
        cpu, pg_cpu, (busy, _) = process_cpu_seconds(), self.postgres.cpu_seconds(), machine_cpu()
        start = time.perf_counter()
        try:
            yield result
        except Exception as exc:  # noqa: BLE001 - a failed stage is a result too; later stages decide
            result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        finally:
            result.seconds = time.perf_counter() - start
            result.cpu_seconds = process_cpu_seconds() - cpu
            result.postgres_cpu_seconds = self.postgres.cpu_seconds() - pg_cpu
            result.other_cpu_seconds = max(
                machine_cpu()[0] - busy - result.cpu_seconds - result.postgres_cpu_seconds, 0.0
            )
            result.peak_rss_bytes = process_peak_bytes()
            result.postgres_peak_bytes = self.sampler.take()
            self.results.append(result)
            status = f"FAILED: {result.error}" if result.error else f"{result.seconds:.1f} s"
            print(f"bench: {day}: {name}: {status}", flush=True)

    def add(self, result: StageResult) -> StageResult:
        """A result measured elsewhere (a dbt layer from dbt's own timings)."""
        self.results.append(result)
        return result

    def machine_load(self) -> dict:
        """How busy the machine was during the whole run, and with what besides this benchmark."""
        busy_end, total_end = machine_cpu()
        busy, total = busy_end - self.machine_start[0], total_end - self.machine_start[1]
        ours = process_cpu_seconds()
        pg = sum((r.postgres_cpu_seconds or 0) for r in self.results if r.part_of is None)
        measured_other = sum((r.other_cpu_seconds or 0) for r in self.results if r.part_of is None)
        return {
            "cores": os.cpu_count(),
            "wall_seconds": round(time.perf_counter() - self.started, 1),
            "machine_busy_share": round(busy / total, 3) if total else None,
            "other_processes_cpu_seconds": round(measured_other, 1),
            "other_processes_share_of_machine": round(measured_other / total, 3) if total else None,
            "benchmark_cpu_seconds": round(ours, 1),
            "postgres_cpu_seconds": round(pg, 1),
            "load_average_start": [round(v, 2) for v in self.load_start],
            "load_average_end": [round(v, 2) for v in load_average()],
        }
