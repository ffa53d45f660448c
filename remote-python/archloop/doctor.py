"""`archloop doctor`: what this host has and lacks for running ArchLoop, with the command that fixes each gap.

The extension's deploy step runs `archloop doctor --json` on the host and shows the report, so every field here is
something a user can act on. Imports are probed, not assumed: a missing package is reported, never raised.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import shlex
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from archloop import PROTOCOL_VERSION, __version__
from archloop.config import RunConfig
from archloop.corpus.lemur import LemurLayoutError, count_lemur_nets
from archloop.corpus.settings import LEMUR_DOWNLOAD, LEMUR_WHEEL
from archloop.evaluation.netguard import sandbox_guards

# (import name, distribution name, why it is needed)
PACKAGES: list[tuple[str, str, str]] = [
    ("torch", "torch", "training candidates"),
    ("numpy", "numpy", "data handling"),
    ("transformers", "transformers", "the code LLM"),
    ("peft", "peft", "LoRA fine-tuning"),
    ("accelerate", "accelerate", "model loading"),
    ("datasketch", "datasketch", "MinHash novelty filter"),
]
# Lower bounds the code needs where a bare name could resolve too old (kept in step with pyproject.toml's extras).
REQUIREMENTS = {"bitsandbytes": "bitsandbytes>=0.45"}
OPTIONAL: list[tuple[str, str, str]] = [
    ("bitsandbytes", "bitsandbytes", "4-bit/8-bit loading and 8-bit optimizers (the gpu extra)"),
    ("ray", "ray", "the Ray executor (pip install 'archloop[ray]')"),
]


@dataclass
class PackageReport:
    name: str
    needed_for: str
    version: str | None
    ok: bool
    install: str | None = None
    error: str | None = None


@dataclass
class GpuReport:
    index: int
    name: str
    memory_gib: float
    capability: str


@dataclass
class RayNodeReport:
    node_id: str
    address: str
    alive: bool
    cpus: float
    gpus: float
    gpu_types: list[str]


@dataclass
class RayClusterReport:
    """The Ray cluster the Ray executor would use: its nodes and their GPUs, or why it could not be reached."""

    address: str
    connected: bool
    nodes: list[RayNodeReport]
    error: str | None = None


def _probe_ray_cluster(address: str) -> RayClusterReport:
    """Join the cluster at `address` just long enough to list its nodes; never raises."""
    try:
        from archloop.evaluation.ray_executor import probe_cluster

        nodes = probe_cluster(address)
    except Exception as exc:  # no Ray, no cluster there, a version mismatch: all reported, none raised
        return RayClusterReport(address, False, [], f"{type(exc).__name__}: {exc}")
    reports = [RayNodeReport(n.node_id, n.address, n.alive, n.cpus, n.gpus, list(n.gpu_types)) for n in nodes]
    return RayClusterReport(address, True, reports)


@dataclass
class CorpusReport:
    """The LEMUR corpus a configuration names ([corpus] lemur): whether it is there and how to get it."""

    source: str
    exists: bool  # the path is there (found: and holds LEMUR's layout)
    found: bool
    nets: int | None = None
    error: str | None = None
    get: str = " ".join(LEMUR_DOWNLOAD)  # the one command that downloads the nn-dataset 2.1.2 wheel


def check_corpus(config: RunConfig) -> CorpusReport | None:
    """None when the configuration starts from the seed nets only ([corpus] lemur = 'none')."""
    if not config.corpus.enabled:
        return None
    source = config.corpus.lemur
    exists = Path(source).expanduser().exists()
    try:
        return CorpusReport(source, exists, True, nets=count_lemur_nets(source))
    except LemurLayoutError as error:
        return CorpusReport(source, exists, False, error=str(error))


def corpus_problem(corpus: CorpusReport) -> str:
    where = f"[corpus] lemur = {corpus.source!r}"
    # The download lands at the presets' default path; any other path has to be pointed at it.
    if Path(corpus.source).expanduser() == Path(LEMUR_WHEEL).expanduser():
        then = ""
    else:
        then = f", then set [corpus] lemur = {LEMUR_WHEEL!r}"
    if corpus.exists:
        detail = (corpus.error or "").split("; get it with")[0]  # the command follows once, below
        return f"{where} is not a LEMUR corpus ({detail}); get the nn-dataset 2.1.2 wheel: run `{corpus.get}`{then}"
    return f"{where} does not exist: the LEMUR corpus is missing; run `{corpus.get}`{then}"


@dataclass
class DoctorReport:
    archloop: str
    protocol: int
    python: str
    python_executable: str
    platform: str
    cpu_count: int
    torch: str | None
    cuda_available: bool
    cuda_version: str | None
    gpus: list[GpuReport]
    packages: list[PackageReport]
    optional: list[PackageReport]
    run_root: str
    disk_free_gib: float | None
    cifar10: str | None
    ok: bool
    problems: list[str] = field(default_factory=list)
    ray_cluster: RayClusterReport | None = None  # only when an address was given (--ray-address or RAY_ADDRESS)
    sandbox_guards: list[str] = field(default_factory=list)  # what confines a candidate on this host
    sandbox_open: list[str] = field(default_factory=list)  # and what those guards leave open
    preset: str | None = None  # the run configuration whose needs were checked (--preset / --config)
    extras: list[str] = field(
        default_factory=list
    )  # the package extras that configuration needs (deploy installs them)
    corpus: CorpusReport | None = None  # the LEMUR corpus that configuration starts from, if it names one


def _probe(import_name: str, dist: str, why: str, python: str) -> PackageReport:
    try:
        module = importlib.import_module(import_name)
    except Exception as exc:  # a broken install raises more than ImportError
        install = f"{python} -m pip install {shlex.quote(REQUIREMENTS.get(dist, dist))}"
        return PackageReport(dist, why, None, False, install, f"{type(exc).__name__}: {exc}")
    version = getattr(module, "__version__", None)
    if version is None:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    return PackageReport(dist, why, str(version), True)


def _gpus() -> tuple[bool, str | None, list[GpuReport]]:
    try:
        import torch
    except Exception:
        return False, None, []
    if not torch.cuda.is_available():
        return False, torch.version.cuda, []
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append(GpuReport(index, props.name, round(props.total_memory / 2**30, 1), f"{props.major}.{props.minor}"))
    return True, torch.version.cuda, gpus


def find_cifar10(extra: list[Path] | None = None) -> Path | None:
    """Where CIFAR-10 (python version) lies, in the usual places: the archive or its extracted folder."""
    from archloop.evaluation.data import cifar10_candidates  # local import: data imports torch

    for path in cifar10_candidates(extra):
        if path.exists():
            return path
    return None


def config_extras(config: RunConfig) -> list[str]:
    """The archloop extras (pyproject.toml) `config` needs: `gpu` (bitsandbytes) for 4-bit/8-bit loading or an
    8-bit optimizer. Deploy installs `.[extra]` from this list; doctor marks the extra missing as a problem."""
    needs_gpu = config.model.quantization != "none" or config.sft.optimizer.endswith("_8bit")
    return ["gpu"] if needs_gpu else []


def config_needs(config: RunConfig, cuda: bool, bitsandbytes: bool, python: str) -> list[str]:
    """What `config` needs that this host lacks, each with the command (or setting) that fixes it."""
    problems = []
    quantized = config.model.quantization != "none"
    if quantized and not bitsandbytes:
        problems.append(
            f"[model] quantization = {config.model.quantization!r} needs bitsandbytes (the gpu extra): run "
            f"`{python} -m pip install {shlex.quote(REQUIREMENTS['bitsandbytes'])}`"
        )
    if config.sft.optimizer.endswith("_8bit") and not bitsandbytes:
        problems.append(
            f"[sft] optimizer = {config.sft.optimizer!r} needs bitsandbytes (without it fine-tuning falls back to "
            f"torch AdamW): run `{python} -m pip install {shlex.quote(REQUIREMENTS['bitsandbytes'])}`"
        )
    # A real code LLM on the CPU is not a run anyone can wait for: only the demo model (or an explicit 'cpu') is.
    wants_cuda = config.model.device.startswith("cuda") or quantized
    wants_cuda = wants_cuda or (config.model.device == "auto" and config.model.id != "demo")
    if wants_cuda and not cuda:
        problems.append(
            f"{config.preset or 'this configuration'} needs a CUDA GPU ([model] id = {config.model.id!r}, "
            f"device = {config.model.device!r}) and torch does not see one: install a CUDA build of torch on a GPU "
            "host, or use the demo preset"
        )
    return problems


def run_doctor(run_root: Path, ray_address: str | None = None, config: RunConfig | None = None) -> DoctorReport:
    """`ray_address` (else RAY_ADDRESS) also probes that Ray cluster; without either no cluster is contacted.
    `config` (a preset or run configuration) adds what it needs and this host lacks to the problems."""
    python = sys.executable
    packages = [_probe(i, d, w, python) for i, d, w in PACKAGES]
    optional = [_probe(i, d, w, python) for i, d, w in OPTIONAL]
    cuda, cuda_version, gpus = _gpus()
    torch_version = next((p.version for p in packages if p.name == "torch" and p.ok), None)

    probe_dir = run_root
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    disk_free = round(shutil.disk_usage(probe_dir).free / 2**30, 1) if probe_dir.exists() else None

    try:
        cifar = find_cifar10()
    except Exception:
        cifar = None

    problems = [f"{p.name} is missing ({p.needed_for}): run `{p.install}`" for p in packages if not p.ok]
    address = ray_address or os.environ.get("RAY_ADDRESS")
    ray_cluster = _probe_ray_cluster(address) if address else None
    if ray_cluster is not None and not ray_cluster.connected:
        problems.append(f"the Ray cluster at {address} cannot be reached: {ray_cluster.error}")
    corpus = None
    if config is not None:
        bitsandbytes = next(p.ok for p in optional if p.name.startswith("bitsandbytes"))
        problems.extend(config_needs(config, cuda, bitsandbytes, python))
        corpus = check_corpus(config)
        if corpus is not None and not corpus.found:
            problems.append(corpus_problem(corpus))  # the run would stop at its start without it
    if disk_free is not None and disk_free < 5:
        problems.append(f"only {disk_free} GiB free under {run_root}: adapters and checkpoints need several GiB")
    guards, gaps = sandbox_guards()
    return DoctorReport(
        archloop=__version__,
        protocol=PROTOCOL_VERSION,
        python=platform.python_version(),
        python_executable=python,
        platform=platform.platform(),
        cpu_count=os.cpu_count() or 1,
        torch=torch_version,
        cuda_available=cuda,
        cuda_version=cuda_version,
        gpus=gpus,
        packages=packages,
        optional=optional,
        run_root=str(run_root),
        disk_free_gib=disk_free,
        cifar10=str(cifar) if cifar else None,
        ok=not problems,
        problems=problems,
        ray_cluster=ray_cluster,
        sandbox_guards=guards,
        sandbox_open=gaps,
        preset=config.preset if config is not None else None,
        extras=config_extras(config) if config is not None else [],
        corpus=corpus,
    )


def report_dict(report: DoctorReport) -> dict:
    return asdict(report)


def format_report(report: DoctorReport) -> str:
    lines = [
        f"archloop {report.archloop} (protocol {report.protocol}) on Python {report.python} ({report.python_executable})",
        f"platform   {report.platform}, {report.cpu_count} CPUs",
        f"torch      {report.torch or 'missing'}; CUDA {'available' if report.cuda_available else 'not available'}"
        + (f" (CUDA {report.cuda_version})" if report.cuda_version else ""),
    ]
    for gpu in report.gpus:
        lines.append(f"  gpu {gpu.index}  {gpu.name}, {gpu.memory_gib} GiB, sm {gpu.capability}")
    for pkg in report.packages + report.optional:
        state = pkg.version if pkg.ok else f"missing: {pkg.install}"
        lines.append(f"{pkg.name:<12} {state}")
    lines.append(f"run root   {report.run_root} ({report.disk_free_gib} GiB free)")
    lines.append(
        f"CIFAR-10   {report.cifar10 or 'not found (synthetic data will be used; see README for where to put it)'}"
    )
    if report.corpus is not None:
        found = report.corpus
        state = f"{found.nets} nets" if found.found else f"missing: {found.get}"
        lines.append(f"LEMUR      {found.source} ({state})")
    if report.ray_cluster is not None and report.ray_cluster.connected:
        alive = [n for n in report.ray_cluster.nodes if n.alive]
        lines.append(f"ray        {report.ray_cluster.address}: {len(alive)} alive node(s)")
        for n in alive:
            types = f" ({', '.join(n.gpu_types)})" if n.gpu_types else ""
            lines.append(f"  node {n.address} {n.node_id[:12]}: {n.cpus:g} CPU, {n.gpus:g} GPU{types}")
    lines.append(f"sandbox    {'; '.join(report.sandbox_guards) or 'no guard beyond rlimits and the timeout'}")
    lines.extend(f"  open     {gap}" for gap in report.sandbox_open)
    lines.extend(f"PROBLEM: {p}" for p in report.problems)
    lines.append("ok" if report.ok else "not ready")
    return "\n".join(lines)
