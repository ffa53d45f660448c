"""Command line of the ArchLoop backend: `python -m archloop <command>`.

Each command is one function registered in COMMANDS; the extension drives the same commands over SSH. `main` runs the
real stages; a caller that embeds the CLI (the tests' entry script) passes a `Wiring` with stand-ins instead.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from archloop import PROTOCOL_VERSION, __version__
from archloop.cache import DEFAULT_CACHE_DIR
from archloop.config import ConfigError, RunConfig, config_from_dict

if TYPE_CHECKING:
    from archloop.run.daemon import Checkpoint, StagesFactory

DEFAULT_RUN_ROOT = Path.home() / ".archloop" / "runs"


@dataclass(frozen=True)
class Wiring:
    """What the run commands plug together. None is the product's choice; the run modules are imported only by the
    commands that need them, so `doctor` and `--help` stay fast."""

    stages_factory: StagesFactory | None = None  # None: the real stages
    checkpoint: Checkpoint | None = None  # called at each loop checkpoint (stage, cycle)
    daemon_command: Sequence[str] | None = None  # what `start` and `attach` launch; None: `python -m archloop daemon`


def _stages_factory(args: argparse.Namespace) -> StagesFactory:
    from archloop.run.daemon import real_stages

    return args.wiring.stages_factory or real_stages


def _start_daemon(args: argparse.Namespace, run_dir: Path) -> int:
    from archloop.run.daemon import DAEMON_COMMAND, start_daemon

    return start_daemon(run_dir, command=args.wiring.daemon_command or DAEMON_COMMAND)


def cmd_doctor(args: argparse.Namespace) -> int:
    from archloop.config import load_config
    from archloop.doctor import format_report, report_dict, run_doctor

    config = None
    if args.config or args.preset:  # also check what this run configuration needs (bitsandbytes, CUDA)
        try:
            config = load_config(Path(args.config).expanduser() if args.config else None, args.preset)
        except ConfigError as exc:
            return _fail(str(exc))
    report = run_doctor(Path(args.run_root).expanduser(), ray_address=args.ray_address, config=config)
    if args.json:
        json.dump(report_dict(report), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(report))
    return 0 if report.ok else 1


def cmd_prepare_demo(args: argparse.Namespace) -> int:
    from archloop.llm.demo_model import INFO_FILE, ensure_demo_model, models_dir, printing_progress

    model_dir = ensure_demo_model(models_dir(args.cache_dir), on_progress=printing_progress())
    info = json.loads((model_dir / INFO_FILE).read_text())
    print(
        f"demo model ready: {model_dir} ({info['parameters'] / 1e6:.1f}M parameters, {info['steps']} pre-training "
        f"steps, loss {info['final_loss']:.2f}, built in {info['seconds']:.0f} s)"
    )
    return 0


# ---- runs -----------------------------------------------------------------------------------------------------------


def _fail(message: str, code: int = 2) -> int:
    print(f"archloop: {message}", file=sys.stderr)
    return code


def _load_config(args: argparse.Namespace) -> RunConfig:
    from archloop.config import load_config

    config_path = Path(args.config).expanduser() if getattr(args, "config", None) else None
    return load_config(config_path, getattr(args, "preset", None))


def _new_run_dir(config: RunConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return DEFAULT_RUN_ROOT / f"{config.run.name}-{stamp}"


def _ensure_run(args: argparse.Namespace) -> Path:
    """The run directory of `start`/`run`, creating the run from --config/--preset if it has none yet."""
    from archloop.run.loop import open_run
    from archloop.run.store import is_run_dir

    run_dir = Path(args.run_dir).expanduser() if args.run_dir else None
    if run_dir is not None and is_run_dir(run_dir):
        if args.config or args.preset:
            print(f"archloop: {run_dir} is an existing run: resuming it with its stored configuration", file=sys.stderr)
        return run_dir
    if not args.config and not args.preset:
        raise ConfigError("a new run needs --config FILE or --preset NAME")
    config = _load_config(args)
    run_dir = run_dir or _new_run_dir(config)
    open_run(run_dir, config).close()
    return run_dir


def cmd_run(args: argparse.Namespace) -> int:
    from archloop.run.files import RunLocked, acquire_run_lock
    from archloop.run.loop import LoopError, LoopHooks, RunLoop
    from archloop.run.selection import format_table
    from archloop.run.store import RunStore

    try:
        run_dir = _ensure_run(args)
        lock_fd = acquire_run_lock(run_dir)
    except (ConfigError, RunLocked) as exc:
        return _fail(str(exc))
    stop = {"now": False}

    def on_signal(*_: object) -> None:
        stop["now"] = True
        print("archloop: stopping after the current step (Ctrl-C again to abort)", file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    header = [True]

    def on_cycle(stats: dict[str, object]) -> None:
        print(format_table([stats], header=header[0]), flush=True)
        header[0] = False

    try:
        with RunStore(run_dir) as store:
            info = store.run_info()
            config = config_from_dict(info.config, preset=info.preset)
            print(f"run {info.id} in {run_dir.resolve()}", flush=True)
            stages = _stages_factory(args)(config, run_dir)
            try:
                hooks = LoopHooks(should_stop=lambda: stop["now"], on_cycle_finished=on_cycle)
                if args.wiring.checkpoint is not None:
                    hooks.checkpoint = args.wiring.checkpoint
                result = RunLoop(store, config, stages, hooks).run()
            finally:
                stages.close()
        print(f"run {result}", flush=True)
        return 0
    except (ConfigError, LoopError) as exc:
        return _fail(str(exc), 1)
    finally:
        os.close(lock_fd)


def cmd_start(args: argparse.Namespace) -> int:
    from archloop.run.daemon import DaemonError, DaemonRunning

    try:
        run_dir = _ensure_run(args)
        pid = _start_daemon(args, run_dir)
    except ConfigError as exc:
        return _fail(str(exc))
    except DaemonRunning as exc:
        return _fail(str(exc), 3)
    except DaemonError as exc:
        return _fail(str(exc), 1)
    print(json.dumps({"runDir": str(run_dir.resolve()), "pid": pid}) if args.json else f"daemon {pid} runs {run_dir}")
    return 0


def _existing_run(args: argparse.Namespace) -> Path | None:
    from archloop.run.store import is_run_dir

    run_dir = Path(args.run_dir).expanduser()
    return run_dir if is_run_dir(run_dir) else None


def cmd_stop(args: argparse.Namespace) -> int:
    from archloop.run.daemon import DaemonError, stop_daemon

    run_dir = _existing_run(args)
    if run_dir is None:
        return _fail(f"{args.run_dir}: not an ArchLoop run")
    try:
        pid = stop_daemon(run_dir, wait_s=args.wait)
    except DaemonError as exc:
        return _fail(str(exc), 1)
    print("no daemon was running" if pid is None else f"daemon {pid} stopped")
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    from archloop.run.attach import attach

    return attach(
        Path(args.run_dir).expanduser(),
        args.since,
        sys.stdin.buffer,
        sys.stdout.buffer,
        launch=lambda run_dir: _start_daemon(args, run_dir),
    )


def cmd_status(args: argparse.Namespace) -> int:
    from archloop.run.requests import run_summary
    from archloop.run.store import RunStore

    run_dir = _existing_run(args)
    if run_dir is None:
        return _fail(f"{args.run_dir}: not an ArchLoop run")
    with RunStore(run_dir) as store:
        summary = run_summary(store, run_dir)
        table = [c.stats for c in store.cycles() if c.stats]
    if args.json:
        print(json.dumps(summary))
        return 0
    from archloop.run.selection import format_table

    alive = "daemon alive" if summary["daemonAlive"] else "no daemon"
    print(f"{summary['run']}: {summary['state']} ({alive}), cycle {summary['cycle']} of {summary['cycles']}")
    if table:
        print(format_table(table))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from archloop.run.requests import list_runs

    runs = list_runs(Path(args.root).expanduser())
    if args.json:
        print(json.dumps(runs))
        return 0
    for r in runs:
        print(f"{r['run']:<40} {r['state']:<9} cycle {r['cycle']}/{r['cycles']}  {r['dir']}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from archloop.run.export import export_run

    run_dir = _existing_run(args)
    if run_dir is None:
        return _fail(f"{args.run_dir}: not an ArchLoop run")
    summary = export_run(run_dir, Path(args.out).expanduser())
    print(f"exported {summary.nets} nets and {summary.cycles} cycles to {summary.out_dir}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 when the loop would accept the input, 1 when it would reject it, 2 for bad arguments."""
    from archloop.run.check import check_reply, format_text

    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return _fail(f"cannot read {args.file}: {error.strerror or error}; pass a file, or - for stdin")
    if args.train_images < 1 or args.test_images < 1:
        return _fail("--train-images and --test-images must be at least 1")
    result = check_reply(
        text,
        train=args.train,
        protocol=args.protocol,
        device=args.device,
        train_images=args.train_images,
        test_images=args.test_images,
        timeout_s=args.timeout,
    )
    print(json.dumps(result, indent=2) if args.json else format_text(result))
    return 0 if result["ok"] else 1


def cmd_daemon(args: argparse.Namespace) -> int:
    from archloop.run.daemon import serve

    return serve(
        Path(args.run_dir).expanduser(), stages_factory=_stages_factory(args), checkpoint=args.wiring.checkpoint
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archloop",
        description="ArchLoop backend: generate, validate, train, novelty-filter and LoRA-fine-tune CIFAR-10 nets.",
    )
    parser.add_argument("--version", action="version", version=f"archloop {__version__} (protocol {PROTOCOL_VERSION})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    doctor = sub.add_parser(
        "doctor", help="report what this host has and lacks (Python, torch, GPUs, packages, disk, data)"
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable report (used by the extension)")
    doctor.add_argument(
        "--run-root", default=str(DEFAULT_RUN_ROOT), help="where runs are kept (for the free-disk check)"
    )
    doctor.add_argument(
        "--ray-address", default=None, help="also list the nodes and GPUs of this Ray cluster (default: RAY_ADDRESS)"
    )
    doctor.add_argument("--preset", help="also check what this preset needs (e.g. paper: CUDA and bitsandbytes)")
    doctor.add_argument("--config", help="also check what this run configuration (TOML) needs")
    doctor.set_defaults(func=cmd_doctor)

    def run_source(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="run configuration (TOML); may name a preset and override its keys")
        p.add_argument("--preset", help="a named configuration: paper, gpu-small, demo")
        p.add_argument("--run-dir", help="the run directory (default: a new one under ~/.archloop/runs)")

    run = sub.add_parser("run", help="run the loop in the foreground, printing the per-cycle table")
    run_source(run)
    run.set_defaults(func=cmd_run)

    start = sub.add_parser("start", help="create the run if new and launch its detached daemon (resumes a run)")
    run_source(start)
    start.add_argument("--json", action="store_true", help="print {runDir, pid}")
    start.set_defaults(func=cmd_start)

    stop = sub.add_parser("stop", help="stop the run's daemon after its current step")
    stop.add_argument("--run-dir", required=True)
    stop.add_argument("--wait", type=float, default=120.0, help="seconds to wait for it to exit")
    stop.set_defaults(func=cmd_stop)

    att = sub.add_parser("attach", help="speak the wire protocol on stdin/stdout for one run (used by the extension)")
    att.add_argument("--run-dir", required=True)
    att.add_argument("--since", type=int, default=0, help="replay events after this seq")
    att.set_defaults(func=cmd_attach)

    status = sub.add_parser("status", help="a run's state and its per-cycle table")
    status.add_argument("--run-dir", required=True)
    status.add_argument("--json", action="store_true", help="the wire RunSummary")
    status.set_defaults(func=cmd_status)

    runs = sub.add_parser("runs", help="list the runs under a root directory")
    runs.add_argument("--root", default=str(DEFAULT_RUN_ROOT))
    runs.add_argument("--json", action="store_true", help="a JSON list of wire RunSummary objects")
    runs.set_defaults(func=cmd_runs)

    export = sub.add_parser("export", help="selected/accepted nets in LEMUR layout + per-cycle stats (CSV, JSON)")
    export.add_argument("--run-dir", required=True)
    export.add_argument("--out", required=True, help="output directory")
    export.set_defaults(func=cmd_export)

    prepare = sub.add_parser(
        "prepare-demo", help="build the embedded demo's model now (else the first demo run builds it: ~5 min, once)"
    )
    prepare.add_argument(
        "--cache-dir",
        default=None,
        help=f"where models are cached: the run config's run.cache_dir (default {DEFAULT_CACHE_DIR})",
    )
    prepare.set_defaults(func=cmd_prepare_demo)

    # No help= on purpose: argparse lists only subcommands given help (SUPPRESS would print "==SUPPRESS==").
    check = sub.add_parser(
        "check", help="what the loop would do with a model reply or a net's source (extract, check, --train: evaluate)"
    )
    check.add_argument("file", nargs="?", default="-", help="the reply or source file (default: - for stdin)")
    check.add_argument("--json", action="store_true", help="print the result as JSON (fields in README.md)")
    check.add_argument("--train", action="store_true", help="also train one epoch in the sandbox on synthetic data")
    check.add_argument("--protocol", default="fast", choices=["fast", "paper"], help="evaluation protocol for --train")
    check.add_argument("--device", default="cpu", help="device for --train (cpu, cuda, cuda:1)")
    check.add_argument("--train-images", type=int, default=512, help="synthetic training images for --train")
    check.add_argument("--test-images", type=int, default=256, help="synthetic test images for --train")
    check.add_argument("--timeout", type=float, default=300.0, help="sandbox time limit in seconds for --train")
    check.set_defaults(func=cmd_check)

    daemon = sub.add_parser("daemon")  # what `start` launches; not for direct use
    daemon.add_argument("--run-dir", required=True)
    daemon.set_defaults(func=cmd_daemon)
    return parser


def main(argv: list[str] | None = None, wiring: Wiring | None = None) -> int:
    # Hugging Face's tqdm bars ("Loading weights", "Writing model shards") fill the run log and the extension's
    # Backend Log with carriage-return lines; the loop reports its own progress as events. Read at import time, so
    # set before any subcommand imports transformers; a user's explicit setting wins.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.wiring = wiring or Wiring()
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    return func(args)
