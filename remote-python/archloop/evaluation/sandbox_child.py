"""The sandboxed side of one candidate run: `python -m archloop.evaluation.sandbox_child` (started only by archloop.evaluation.sandbox).

Reads one JSON job from stdin, loads torch and the data it was handed, then locks itself down (resource limits,
Landlock, a seccomp filter against network sockets) BEFORE it compiles the candidate's code, runs the job
(`validate` or `evaluate`), and writes newline-delimited JSON messages to the result pipe (fd from --result-fd or the fork server):
`{"event": "first_step"}` when training starts, then one `{"result": {...}}`. Nothing else it prints counts.

Failure: every exception from the candidate is caught and classified into an Outcome string in the result; what
cannot be caught (os._exit, a signal, a kill by the parent) the parent classifies from the exit status.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CANDIDATE_FILENAME = "<candidate>"
# Exception messages that mean a shape mismatch inside the net, not a general bug.
_SHAPE_PATTERN = re.compile(
    r"shapes cannot be multiplied|size mismatch|must match the size|Expected input batch_size|Target -?\d+ is out of bounds"
)
_OOM_PATTERN = re.compile(r"out of memory|can't allocate memory|not enough memory|std::bad_alloc", re.IGNORECASE)
# Read-only system places every Python process needs (the loader, libc, zoneinfo, user lookups).
_SYSTEM_READ = (
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/bin",
    "/sbin",
    "/opt",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/proc",
    "/sys",
)


@dataclass(frozen=True)
class ChildFailure:
    outcome: str
    message: str
    line: int | None


def _candidate_line(exc: BaseException) -> int | None:
    """The line of the innermost frame that is candidate code (what the editor should point at)."""
    if isinstance(exc, SyntaxError) and exc.filename == CANDIDATE_FILENAME:
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == CANDIDATE_FILENAME:
            line = frame.lineno
    return line


def classify(exc: BaseException) -> ChildFailure:
    """An Outcome for an exception raised while compiling, building, training or running the candidate."""
    from archloop.evaluation.evaluate import CandidateFailure

    text = f"{type(exc).__name__}: {exc}"[:2000]
    line = _candidate_line(exc)
    if isinstance(exc, CandidateFailure):
        return ChildFailure(exc.outcome, exc.message, line)
    if isinstance(exc, SyntaxError):
        return ChildFailure("syntax_error", text, line)
    if isinstance(exc, ImportError):
        return ChildFailure("import_error", text, line)
    if isinstance(exc, MemoryError) or _OOM_PATTERN.search(str(exc)):
        return ChildFailure("out_of_memory", text, line)
    if isinstance(exc, SystemExit):
        return ChildFailure("runtime_error", f"the candidate called sys.exit({exc.code!r})", line)
    if isinstance(exc, RuntimeError | IndexError | ValueError) and _SHAPE_PATTERN.search(str(exc)):
        return ChildFailure("shape_error", text, line)
    return ChildFailure("runtime_error", text, line)


def _apply_rlimits(limits: dict[str, int]) -> None:
    # A file over RLIMIT_FSIZE would otherwise kill us with SIGXFSZ; as an OSError it is the candidate's error.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    for name, key in (
        ("RLIMIT_AS", "address_space"),
        ("RLIMIT_NPROC", "processes"),
        ("RLIMIT_NOFILE", "open_files"),
        ("RLIMIT_FSIZE", "file_size"),
        ("RLIMIT_CORE", "core"),
    ):
        value = limits.get(key)
        if value is None:
            continue
        resource.setrlimit(getattr(resource, name), (value, value))


def _landlock(job: dict[str, Any], scratch: Path) -> list[str]:
    from archloop.evaluation import landlock

    read_roots = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *_SYSTEM_READ)}
    read_roots |= {Path(p) for p in sys.path if p and Path(p).resolve() != scratch}
    read_roots.add(Path(__file__).resolve().parents[1])  # the archloop package
    rules = [landlock.PathRule(p, landlock.READ_EXEC) for p in sorted(read_roots)]
    rules += [landlock.PathRule(Path(p), landlock.READ) for p in job.get("read_files", [])]
    rules.append(landlock.PathRule(Path("/dev"), landlock.READ | landlock.FS_WRITE_FILE | landlock.FS_IOCTL_DEV))
    rules.append(landlock.PathRule(scratch, (1 << 16) - 1))
    status = landlock.restrict_self(rules)
    if status is None:
        return ["landlock unavailable on this kernel: file reads/writes and TCP are not restricted"]
    notes = [f"landlock abi {status.abi}"]
    if not status.network_restricted:
        notes.append("landlock abi < 4: TCP is not restricted")
    return notes


def _refuse_network() -> list[str]:
    from archloop.evaluation import netguard

    status = netguard.refuse_network()
    return [status] if status else ["seccomp unavailable here: UDP and other non-TCP sockets are not refused"]


class ResultChannel:
    """Newline-delimited JSON to the parent over the inherited pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


def _execute(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "candidate", "__file__": CANDIDATE_FILENAME}
    exec(compile(code, CANDIDATE_FILENAME, "exec"), namespace)  # noqa: S102 - running it is the point; we are sandboxed
    return namespace


def _validate(namespace: dict[str, Any], device: Any, code: str) -> dict[str, Any]:
    import torch

    from archloop.evaluation.evaluate import FAST, CandidateFailure, candidate_prm, parameter_count
    from archloop.evaluation.layers import record_layers

    net_class = namespace.get("Net")
    if not isinstance(net_class, type):
        raise CandidateFailure("contract_error", "the code defines no class Net")
    supported_fn = namespace.get("supported_hyperparameters")
    prm = candidate_prm(supported_fn() if callable(supported_fn) else set(), FAST)
    torch.manual_seed(0)
    net = net_class((FAST.batch_size, 3, 32, 32), (10,), prm, device)  # LEMUR's in_shape: the full batch shape
    if not isinstance(net, torch.nn.Module):
        raise CandidateFailure("contract_error", "Net(...) is not a torch.nn.Module")
    net.to(device)
    # eval(): BatchNorm on a batch of one would refuse to train; the check is about shapes, not statistics.
    net.eval()
    with torch.no_grad():
        out, layers, truncated = record_layers(net, torch.randn(1, 3, 32, 32, device=device), code)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 10):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CandidateFailure("shape_error", f"forward of a (1, 3, 32, 32) tensor returned {shape}, expected (1, 10)")
    return {"outcome": "ok", "params": parameter_count(net), "layers": layers, "layers_truncated": truncated}


def _evaluate(
    namespace: dict[str, Any], job: dict[str, Any], data: dict[str, Any], device: Any, channel: ResultChannel
) -> dict[str, Any]:
    from archloop.evaluation.evaluate import EvalProtocol, train_and_predict

    protocol = EvalProtocol(**job["protocol"])
    run = train_and_predict(
        namespace,
        data["train"],
        data["test_images"],
        protocol,
        device,
        int(job["seed"]),
        on_first_step=lambda: channel.send({"event": "first_step", "t": time.time()}),
    )
    return {
        "outcome": "ok",
        "params": run.params,
        "predictions": run.predictions.tolist(),
        "train_seconds": run.train_seconds,
        "eval_seconds": run.eval_seconds,
        "peak_memory_mb": run.peak_memory_mb,
        "images_per_second": run.images_per_second,
    }


def _load_data(job: dict[str, Any], device: Any) -> dict[str, Any]:
    """Map the training data (held on the GPU as uint8 when there is one) and the permuted test images."""
    import numpy as np
    import torch

    from archloop.evaluation.data import ImageSplit, _map_npy

    limit = job.get("train_limit")
    images = _map_npy(Path(job["train_images"]))[:limit]
    labels = _map_npy(Path(job["train_labels"]))[:limit]
    if device.type == "cuda":
        images, labels = images.to(device), labels.to(device)
    test = torch.from_numpy(np.load(job["test_images"], allow_pickle=False))
    return {"train": ImageSplit(images, labels), "test_images": test}


def main(result_fd: int) -> int:
    """Run the job read from stdin, report on `result_fd`; the exit code is for the parent's log only."""
    job = json.loads(sys.stdin.buffer.read())
    channel = ResultChannel(result_fd)
    scratch = Path.cwd().resolve()
    notes: list[str] = []
    try:
        import torch

        torch.set_num_threads(int(job.get("threads", 1)))
        device = torch.device(job.get("device", "cpu"))
        if device.type == "cuda" and job.get("gpu_memory_fraction"):
            torch.cuda.set_per_process_memory_fraction(float(job["gpu_memory_fraction"]), device)
        data = _load_data(job, device) if job["mode"] == "evaluate" else {}
        _apply_rlimits(job.get("rlimits", {}))
        if job.get("landlock", True):
            notes += _landlock(job, scratch)
        if job.get("seccomp", True):
            notes += _refuse_network()
    except Exception as exc:  # the harness itself failed: say so, it is not the candidate's fault
        channel.send(
            {
                "result": {
                    "outcome": "crashed",
                    "message": f"sandbox setup failed: {type(exc).__name__}: {exc}",
                    "line": None,
                    "notes": notes,
                }
            }
        )
        return 3

    try:
        namespace = _execute(job["code"])
        if job["mode"] == "validate":
            result = _validate(namespace, device, job["code"])
        else:
            result = _evaluate(namespace, job, data, device, channel)
        result["line"] = None
        result["message"] = None
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt from a candidate are its failures too
        failure = classify(exc)
        result = {"outcome": failure.outcome, "message": failure.message, "line": failure.line}
    result["notes"] = notes
    try:
        channel.send({"result": result})
    except OSError:
        return 4  # the candidate closed our pipe; the parent reports a missing result
    return 0


def _forget_start_folder() -> None:
    # `python -m` puts the start folder on sys.path; it must not become a Landlock read root or an import source.
    here = Path.cwd().resolve()
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != here]


def zygote(sock_fd: int) -> int:
    """The fork server: import everything a child needs once (never CUDA), then fork children on request."""
    import numpy  # noqa: F401 - imported to be inherited by forked children
    import torch  # noqa: F401

    # The first optimizer a process builds imports torch._dynamo (seconds of CPU); pay that once, here.
    torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)

    import archloop.evaluation.contract  # noqa: F401
    import archloop.evaluation.data  # noqa: F401
    import archloop.evaluation.evaluate  # noqa: F401
    import archloop.evaluation.landlock  # noqa: F401
    import archloop.evaluation.layers  # noqa: F401
    import archloop.evaluation.netguard  # noqa: F401
    from archloop.evaluation.launcher import zygote_loop

    return zygote_loop(sock_fd, main)


if __name__ == "__main__":
    _forget_start_folder()
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        os._exit(zygote(int(sys.argv[2])))
    if len(sys.argv) != 3 or sys.argv[1] != "--result-fd":
        sys.stderr.write("usage: python -m archloop.evaluation.sandbox_child --result-fd FD | --zygote SOCKET_FD\n")
        os._exit(2)
    # os._exit: skip interpreter teardown, which would run the candidate's atexit hooks and __del__ methods.
    code = main(int(sys.argv[2]))
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # the candidate may have closed or broken them
            stream.flush()
    os._exit(code)
