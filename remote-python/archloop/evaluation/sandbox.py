"""Run one untrusted candidate in its own process, with limits, and classify how it ended.

Every candidate runs in its own process: by default a fresh `python -m archloop.evaluation.sandbox_child` started with
`start_new_session=True` (its own process group and session); with a ForkServer (launcher.py, what LocalExecutor
uses) a fork of a warm interpreter that has imported torch but holds nothing else, which calls setsid() and runs the
same child code. Each gets a fresh scratch folder and an allow-listed environment (no parent secrets; HOME and
TMPDIR point at the scratch folder). The limits are applied in the child after it has loaded torch and its data
and before it compiles the candidate. What stops what:

- wall clock: the parent kills the whole group (os.killpg SIGKILL) at `timeout_s` -> `timeout`.
- output: stdout and stderr are read by the parent with a cap; past `output_limit_bytes` the group is killed
  -> `output_limit`. Only a tail is kept for the UI.
- memory: on CPU, RLIMIT_AS in the child (allocations fail inside the candidate -> `out_of_memory`). RLIMIT_AS
  breaks CUDA initialisation (the driver reserves tens of GiB of address space), and RLIMIT_DATA counts some of the
  driver's private mappings in ways that differ between driver versions, so on a GPU the child gets no address-space
  limit; instead the parent's RSS watchdog sums the resident memory of every process of the sandbox every
  `poll_interval_s` and kills the group past `memory_mb` -> `out_of_memory` (it also backs up RLIMIT_AS on CPU).
  GPU memory per child is capped with torch.cuda.set_per_process_memory_fraction when several share a GPU.
- processes: RLIMIT_NPROC is per user and the kernel never applies it to root. So as root each child gets its own
  pids cgroup (cgroup v1 `pids` or v2 with the pids controller) with pids.max = `max_processes` (threads count),
  which also lets the parent kill every process of the sandbox, even one that left the group with setsid(). When
  not root, NPROC is set to the user's current task count plus `max_processes`. In all cases a watchdog counting
  the session's processes backs it up (the only guard left for root where no pids cgroup can be made).
- files: RLIMIT_NOFILE, RLIMIT_FSIZE (a bigger file fails with EFBIG), RLIMIT_CORE 0.
- files, network and signals: Landlock (Linux >= 5.13, see landlock.py): reads only of Python, the archloop
  package, system libraries, /proc, /sys, /dev and the data files handed to the child; writes only in scratch; no
  TCP (ABI >= 4); no signals to processes outside the sandbox (ABI >= 6); no ptrace or /proc/PID/mem|environ of
  processes outside it. This is what keeps the CIFAR-10 archive and the test labels out of the candidate's reach
  and its writes inside scratch. Each result says in `notes` which Landlock ABI applied, or that none did.
- network: a seccomp filter (netguard.py) refuses every socket but AF_UNIX, so no UDP either; noted in `notes`.
- orphans: a forked child dies with its fork server, and the fork server kills every child's group when its owner
  (the daemon, a Ray worker) dies; see launcher.py.

What it does NOT stop (it is not a VM): a kernel exploit; CPU time stolen from neighbours within the timeout;
AF_UNIX connections to local daemons; reading anything inside the allowed read roots (Python's install and
site-packages, /proc, /sys: put the data cache and secrets elsewhere); on a kernel without Landlock, any read the
user may do and writes to the user's files. Without root (no pids cgroup), processes that leave
the process group with setsid() can outlive the sandbox. A candidate can corrupt the harness inside its own process
(it runs there), e.g. replace the answer it sends; that only changes its own predictions, never the labels. CUDA needs /dev/nvidia* (read/write/ioctl, granted under
/dev) and no address-space limit, and the child sees only its device through CUDA_VISIBLE_DEVICES.

Accuracy cannot be faked by the candidate: the parent keeps the test labels; the child gets the test images in a
secret random order (and, for `paper`, with the test-time flips already applied, so no position or flip says
anything), returns predicted class ids, which are read strictly (exact length, ints 0..9, else `runtime_error`),
and the parent computes the accuracy. Files the child writes and everything it prints are ignored.

Failure: `validate_candidate` and `evaluate_candidate` never raise for anything the candidate does; every ending is
one of OUTCOMES. They raise OSError only when the parent itself cannot start a process or create scratch space.

One module though over 400 lines: the limits, the child's launch and the classification of its end are one contract.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archloop.evaluation.contract import check_source
from archloop.evaluation.data import DatasetFiles, flip_half
from archloop.evaluation.evaluate import FAST, EvalProtocol, EvalResult, EvalTask, accuracy_percent
from archloop.evaluation.launcher import ChildFds, ForkServer, Launcher, SpawnLauncher
from archloop.evaluation.layers import read_layers

OUTCOMES: tuple[str, ...] = (
    "ok",
    "syntax_error",
    "contract_error",
    "import_error",
    "runtime_error",
    "shape_error",
    "nan_loss",
    "timeout",
    "out_of_memory",
    "crashed",
    "output_limit",
    "proxy_violation",
    "too_many_params",  # validation: over [evaluation] max_params (classified by the run, not the child)
)
# Environment variables a child may inherit; everything else (tokens, SSH agent, cloud keys) stays behind.
ENV_ALLOW = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "CUDA_HOME", "LD_LIBRARY_PATH", "NVIDIA_DRIVER_CAPABILITIES")
_TAIL_BYTES = 4096
_RESULT_CAP = 64 * 2**20


@dataclass(frozen=True)
class SandboxLimits:
    """Limits for one candidate process. Defaults suit a real run (the paper's 30 min); tests pass small ones."""

    timeout_s: float = 1800.0
    memory_mb: int | None = 8192  # None: no cap (no RLIMIT_AS, no resident-memory watch)
    max_processes: int = 64
    max_open_files: int = 256
    max_file_size_mb: int = 64
    output_limit_bytes: int = 1_000_000
    threads: int = 1
    gpu_memory_fraction: float | None = None
    landlock: bool = True
    seccomp: bool = True  # refuse sockets other than AF_UNIX (netguard.py)
    scratch_root: Path | None = None
    poll_interval_s: float = 0.05


@dataclass(frozen=True)
class ValidationResult:
    """The paper's validation step: outcome, a message and line for the editor, and the parameter count when ok."""

    outcome: str
    message: str | None
    line: int | None
    params: int | None
    # The leaf modules in call order (layers.py), checked here because the child is untrusted; None when absent.
    layers: list[dict[str, Any]] | None = None
    layers_truncated: bool = False


@dataclass
class ChildRun:
    """How one child process ended, as seen by the parent."""

    outcome: str
    message: str | None
    line: int | None
    result: dict[str, Any] | None
    output_tail: str
    wall_seconds: float
    first_step_seconds: float | None
    returncode: int | None
    notes: list[str] = field(default_factory=list)


class _Capped:
    """Reads one pipe to EOF on a thread, keeping the total size and a tail; calls `on_over` once past `cap`."""

    def __init__(self, fd: int, cap: int, on_over: Any, keep_all: bool = False, on_line: Any = None) -> None:
        self.fd, self.cap, self.on_over, self.keep_all, self.on_line = fd, cap, on_over, keep_all, on_line
        self.total = 0
        self.over = False
        self.data = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.total += len(chunk)
            if self.total > self.cap and not self.over:
                self.over = True
                self.on_over()
            if self.over:
                continue  # keep draining so the child never blocks on a full pipe before it dies
            if self.keep_all:
                self.data += chunk
                if self.on_line is not None:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        self.on_line(line)
            else:
                self.data = (self.data + chunk)[-_TAIL_BYTES:]

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)


def default_scratch_root() -> Path:
    root = Path(tempfile.gettempdir()) / "archloop-sandbox"
    root.mkdir(mode=0o711, exist_ok=True)
    return root


def _proc_tasks() -> list[tuple[int, int, int, int]]:
    """(pid, session id, uid, rss KiB) of every process, read from /proc (processes that vanish are skipped)."""
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry.name}/status", "rb") as handle:
                status = handle.read()
        except OSError:
            continue
        uid = rss = 0
        for line in status.splitlines():
            if line.startswith(b"Uid:"):
                uid = int(line.split()[1])
            elif line.startswith(b"VmRSS:"):
                rss = int(line.split()[1])
        out.append((int(entry.name), int(stat[3]), uid, rss))
    return out


def _sandbox_processes(leader: int) -> list[tuple[int, int]]:
    """(pid, rss KiB) of every process in the child's session."""
    return [(pid, rss) for pid, sid, _uid, rss in _proc_tasks() if sid == leader]


def _memory_kib(members: list[tuple[int, int]]) -> int:
    """Memory of the sandbox's processes. One process: its RSS. Several: their PSS, because forked processes share
    most pages and a sum of RSS would count them once per process (a few forks of torch would look like GiBs)."""
    if len(members) <= 1:
        return sum(rss for _, rss in members)
    total = 0
    for pid, rss in members:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
                total += next(int(line.split()[1]) for line in handle if line.startswith(b"Pss:"))
        except (OSError, StopIteration, ValueError):
            total += rss
    return total


class PidsCgroup:
    """A per-sandbox pids cgroup (root only): a hard process/thread cap and a complete list of the sandbox's tasks."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def create(limit: int) -> PidsCgroup | None:
        """A new cgroup with pids.max = `limit`, or None where cgroups are not ours to make (not root, no pids)."""
        if os.geteuid() != 0:
            return None
        v1 = Path("/sys/fs/cgroup/pids")
        v2 = Path("/sys/fs/cgroup")
        if (v1 / "cgroup.procs").exists():
            base = v1 / "archloop"
        elif "pids" in _read_text(v2 / "cgroup.subtree_control").split():
            base = v2 / "archloop"
        else:
            return None
        try:
            base.mkdir(exist_ok=True)
            if base.parent == v2:
                (base / "cgroup.subtree_control").write_text("+pids")
            path = Path(tempfile.mkdtemp(prefix="cand-", dir=base))
            (path / "pids.max").write_text(str(limit))
        except OSError:
            return None
        return PidsCgroup(path)

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        return [int(p) for p in _read_text(self.path / "cgroup.procs").split()]

    def remove(self) -> None:
        """Kill what is left and delete the cgroup (it can only go once empty, so retry briefly)."""
        for _ in range(100):
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.02)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _kill_all(leader: int, cgroup: PidsCgroup | None) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, signal.SIGKILL)
    for pid in cgroup.pids() if cgroup else []:  # stragglers that left the group with setsid()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _user_task_count() -> int:
    me = os.getuid()
    total = 0
    for pid, _sid, uid, _rss in _proc_tasks():
        if uid == me:
            try:
                total += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                continue
    return total


def child_env(scratch: Path, threads: int, visible_devices: str | None) -> dict[str, str]:
    """The allow-listed environment of a sandbox child (and of the fork server)."""
    env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    package_root = str(Path(__file__).resolve().parents[2])  # the folder that holds `archloop/`
    env.update(
        {
            "HOME": str(scratch),
            "TMPDIR": str(scratch),
            "PYTHONPATH": package_root,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads),
            "CUDA_VISIBLE_DEVICES": visible_devices or "",
        }
    )
    return env


def make_fork_server(scratch_root: Path | None = None) -> ForkServer:
    """A warm fork server for many candidates (see launcher.py); the caller closes it.

    It lives in its own folder beside the scratch folders (torch leaves caches in HOME/TMPDIR), removed on close.
    """
    home = Path(tempfile.mkdtemp(prefix="forkserver-", dir=(scratch_root or default_scratch_root()).parent))
    return ForkServer(child_env(home, 1, None), home, remove_on_close=True)


def child_devices(device: str) -> tuple[str | None, str]:
    """For the parent's `device` ("cpu", "cuda", "cuda:N"): the child's CUDA_VISIBLE_DEVICES and the device it uses.

    The child sees its one GPU as index 0, and names it with the index: set_per_process_memory_fraction refuses a
    bare "cuda".
    """
    if device == "cuda" or device.startswith("cuda:"):
        return (device.split(":", 1)[1] if ":" in device else "0"), "cuda:0"
    return None, "cpu"


def run_child(
    job: dict[str, Any],
    limits: SandboxLimits,
    device: str = "cpu",
    files: dict[str, np.ndarray] | None = None,
    launcher: Launcher | None = None,
) -> ChildRun:
    """Run `job` (see sandbox_child) in a fresh sandboxed process; `files` are written to its scratch folder first.

    `launcher` None spawns a fresh interpreter; pass a ForkServer to fork a warm one. Returns how it ended and never
    raises for anything the child does; OSError if no process or folder can be made.
    """
    root = limits.scratch_root or default_scratch_root()
    scratch = Path(tempfile.mkdtemp(prefix="cand-", dir=root))
    read_files = []
    for name, array in (files or {}).items():
        np.save(scratch / name, array)
        read_files.append(str(scratch / name))
    visible, child_device = child_devices(device)
    cgroup = PidsCgroup.create(limits.max_processes)
    rlimits = {"open_files": limits.max_open_files, "file_size": limits.max_file_size_mb * 2**20, "core": 0}
    if cgroup is None and os.geteuid() != 0:
        rlimits["processes"] = _user_task_count() + limits.max_processes
    if visible is None and limits.memory_mb is not None:
        rlimits["address_space"] = limits.memory_mb * 2**20
    job = {
        **job,
        "threads": limits.threads,
        "device": child_device,
        "gpu_memory_fraction": limits.gpu_memory_fraction,
        "rlimits": rlimits,
        "landlock": limits.landlock,
        "seccomp": limits.seccomp,
        "read_files": job.get("read_files", []) + read_files,
    }

    pipes = [os.pipe() for _ in range(4)]  # stdin, stdout, stderr, result: (read end, write end)
    child_ends = ChildFds(pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1])
    try:
        child = (launcher or SpawnLauncher()).launch(scratch, child_env(scratch, limits.threads, visible), child_ends)
    except BaseException:
        for r, w in pipes:
            os.close(r)
            os.close(w)
        shutil.rmtree(scratch, ignore_errors=True)
        if cgroup:
            cgroup.remove()
        raise
    started = time.monotonic()  # after launch: waiting for a busy fork server is not the candidate's time
    for fd in (child_ends.stdin, child_ends.stdout, child_ends.stderr, child_ends.result):
        os.close(fd)
    reason: dict[str, str] = {}
    first_step: list[float] = []

    def kill(why: str) -> None:
        reason.setdefault("outcome", why)
        _kill_all(child.pid, cgroup)

    def on_result_line(line: bytes) -> None:
        if b'"first_step"' in line and not first_step:
            first_step.append(time.monotonic() - started)

    readers = [
        _Capped(pipes[1][0], limits.output_limit_bytes, lambda: kill("output_limit")),
        _Capped(pipes[2][0], limits.output_limit_bytes, lambda: kill("output_limit")),
        _Capped(pipes[3][0], _RESULT_CAP, lambda: kill("runtime_error"), keep_all=True, on_line=on_result_line),
    ]
    returncode: int | None = None
    try:
        if cgroup:
            # Before the job is sent: the child waits for it, so it has not forked yet. A child already dead
            # cannot join; its exit status tells the rest.
            with contextlib.suppress(OSError):
                cgroup.add(child.pid)
        # A child that died before reading its job breaks the pipe; its exit status says how it ended.
        with contextlib.suppress(OSError), open(pipes[0][1], "wb", closefd=False) as stdin:
            stdin.write(json.dumps(job).encode())
        os.close(pipes[0][1])
        deadline = started + limits.timeout_s
        next_watch = 0.0
        while returncode is None and not child.lost:
            now = time.monotonic()
            if now >= deadline:
                kill("timeout")
                break
            if now >= next_watch:
                next_watch = now + max(limits.poll_interval_s, 0.02)
                members = _sandbox_processes(child.pid)
                if len(members) > limits.max_processes:
                    kill("too_many_processes")
                    break
                if limits.memory_mb is not None and _memory_kib(members) > limits.memory_mb * 1024:
                    kill("out_of_memory")
                    break
            returncode = child.wait(min(limits.poll_interval_s, max(deadline - now, 0.001)))
    finally:
        _kill_all(child.pid, cgroup)  # also grandchildren left behind by a child that exited normally
        if returncode is None:
            returncode = child.wait(30.0)
        for reader in readers:
            reader.join(timeout=5.0)
        for r, _ in pipes[1:]:  # pipes[0][0] is the child's stdin, closed after launch
            os.close(r)
        shutil.rmtree(scratch, ignore_errors=True)
        if cgroup:
            cgroup.remove()
    wall = time.monotonic() - started
    tail = (bytes(readers[0].data) + b"\n" + bytes(readers[1].data)).decode("utf-8", "replace").strip()[-_TAIL_BYTES:]
    return _classify(
        reason.get("outcome"),
        returncode,
        bytes(readers[2].data),
        tail,
        wall,
        first_step[0] if first_step else None,
        limits,
    )


def _classify(
    killed_for: str | None,
    returncode: int | None,
    result_bytes: bytes,
    tail: str,
    wall: float,
    first_step: float | None,
    limits: SandboxLimits,
) -> ChildRun:
    def run(
        outcome: str,
        message: str | None,
        line: int | None = None,
        result: dict[str, Any] | None = None,
        notes: list[str] | None = None,
    ) -> ChildRun:
        return ChildRun(outcome, message, line, result, tail, wall, first_step, returncode, notes or [])

    if killed_for == "timeout":
        return run("timeout", f"no result within {limits.timeout_s:g} s; the process group was killed")
    if killed_for == "output_limit":
        return run(
            "output_limit", f"printed more than {limits.output_limit_bytes:,} bytes; the process group was killed"
        )
    if killed_for == "out_of_memory":
        return run("out_of_memory", f"resident memory passed {limits.memory_mb} MiB; the process group was killed")
    if killed_for == "too_many_processes":
        return run("runtime_error", f"started more than {limits.max_processes} processes; the process group was killed")
    if killed_for == "runtime_error":
        return run("runtime_error", f"wrote more than {_RESULT_CAP:,} bytes to the result channel")
    message = _last_result(result_bytes)
    if message is not None:
        outcome = message.get("outcome")
        if outcome not in OUTCOMES:
            return run("runtime_error", f"the result channel carried an unknown outcome {str(outcome)[:80]!r}")
        line = message.get("line")
        return run(
            outcome,
            message.get("message"),
            line if isinstance(line, int) and line >= 0 else None,
            message,
            [str(n) for n in message.get("notes", [])][:8],
        )
    if returncode is None:
        return run("crashed", "the child's exit status was lost (its fork server died)")
    if returncode < 0:
        sig = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        if -returncode == signal.SIGKILL:  # not sent by us: the kernel's OOM killer is the usual sender
            return run("out_of_memory", "killed by SIGKILL (most likely the kernel's out-of-memory killer)")
        return run("crashed", f"killed by signal {sig}")
    return run("runtime_error", f"exited with status {returncode} before reporting a result")


def _last_result(data: bytes) -> dict[str, Any] | None:
    """The last well-formed `{"result": {...}}` line, or None."""
    for raw in reversed(data.split(b"\n")):
        if not raw.strip():
            continue
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if isinstance(message, dict) and isinstance(message.get("result"), dict):
            return message["result"]
    return None


def validate_candidate(
    code: str, limits: SandboxLimits | None = None, device: str = "cpu", launcher: Launcher | None = None
) -> ValidationResult:
    """The paper's validation: static contract check (no process for code that fails it), then in the sandbox:
    execute, instantiate, forward a (1,3,32,32) tensor; the output must be (1,10), else `shape_error`.
    """
    report = check_source(code)
    if not report.ok:
        return ValidationResult(report.outcome, report.message, report.line, None)
    run = run_child({"mode": "validate", "code": code, "seed": 0}, limits or SandboxLimits(), device, launcher=launcher)
    ok = bool(run.result) and run.outcome == "ok"
    params = run.result.get("params") if ok else None
    layers = read_layers(run.result.get("layers")) if ok else None
    return ValidationResult(
        run.outcome,
        run.message,
        run.line,
        params if isinstance(params, int) else None,
        layers,
        layers is not None and run.result.get("layers_truncated") is True,
    )


def _read_predictions(result: dict[str, Any], expected: int) -> np.ndarray | None:
    """The child's predictions as int64, or None unless they are exactly `expected` ints in 0..9."""
    values = result.get("predictions")
    if not isinstance(values, list) or len(values) != expected:
        return None
    if not all(type(v) is int and 0 <= v <= 9 for v in values):
        return None
    return np.asarray(values, dtype=np.int64)


def _number(result: dict[str, Any], key: str) -> float | None:
    value = result.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def evaluate_candidate(
    task: EvalTask,
    dataset: DatasetFiles,
    protocol: EvalProtocol = FAST,
    limits: SandboxLimits | None = None,
    device: str = "cpu",
    train_limit: int | None = None,
    test_limit: int | None = None,
    static_check: bool = True,
    launcher: Launcher | None = None,
) -> EvalResult:
    """Train `task` one epoch under `protocol` in the sandbox and score its predictions against labels it never saw.

    `train_limit`/`test_limit` use the first N images of each split (tests, benchmarks). `static_check=False` skips
    the contract check (the hostile tests use it to reach the sandbox with code the check would stop). `launcher`
    None spawns a fresh interpreter; a ForkServer (make_fork_server) forks a warm one.
    Never raises for the candidate's behaviour; see the module docstring for the outcomes.
    """
    limits = limits or SandboxLimits()
    if static_check:
        report = check_source(task.code)
        if not report.ok:
            return EvalResult(task.candidate, report.outcome, message=report.message, line=report.line)
    test = dataset.load_test()
    labels = test.labels.numpy()[:test_limit]
    images = test.images.numpy()[:test_limit]
    if protocol.flip_test:
        images = flip_half(images, task.seed)  # keyed to the image, not its position: seeds stay reproducible
    # The secret order: from the OS's randomness, never the task's seed, and never sent to the child.
    order = np.random.default_rng(secrets.randbits(128)).permutation(labels.shape[0])
    job = {
        "mode": "evaluate",
        "code": task.code,
        "seed": task.seed,
        "protocol": protocol.__dict__,
        "train_images": str(dataset.train_images),
        "train_labels": str(dataset.train_labels),
        "read_files": [str(dataset.train_images), str(dataset.train_labels)],
        "train_limit": train_limit,
        "test_images": "test_images.npy",
    }
    run = run_child(
        job, limits, device, files={"test_images.npy": np.ascontiguousarray(images[order])}, launcher=launcher
    )
    notes = tuple(run.notes)
    if run.outcome != "ok" or run.result is None:
        return EvalResult(
            task.candidate,
            run.outcome,
            message=run.message,
            output_tail=run.output_tail,
            line=run.line,
            wall_seconds=run.wall_seconds,
            notes=notes,
        )
    predictions = _read_predictions(run.result, labels.shape[0])
    if predictions is None:
        return EvalResult(
            task.candidate,
            "runtime_error",
            message=f"the predictions were not {labels.shape[0]} class ids in 0..9",
            output_tail=run.output_tail,
            notes=notes,
        )
    params = run.result.get("params")
    return EvalResult(
        candidate=task.candidate,
        outcome="ok",
        accuracy=accuracy_percent(predictions, labels[order]),
        params=params if isinstance(params, int) and params >= 0 else None,
        train_seconds=_number(run.result, "train_seconds"),
        eval_seconds=_number(run.result, "eval_seconds"),
        peak_memory_mb=_number(run.result, "peak_memory_mb"),
        images_per_second=_number(run.result, "images_per_second"),
        output_tail=run.output_tail,
        first_step_seconds=run.first_step_seconds,
        wall_seconds=run.wall_seconds,
        notes=notes,
    )
