"""archloop's CLI with test stand-ins plugged in, for tests that drive `start`, `run`, `attach` and the daemon as real
processes: `python tests/daemon_entry.py [--stages NAME] [--slow S] [--halt-at STAGE[:CYCLE]] COMMAND ARGS...`.

--stages scripted       tests/scripted_stages.py (the default): milliseconds per cycle
--stages seed-variants  tests/real_stages.py: the real stages, generation replaying seed nets
--slow S                the scripted stages sleep S seconds per step, so a request or a kill lands mid-step
--halt-at STAGE[:CYCLE] at that loop checkpoint the daemon writes <run_dir>/halted and blocks until killed

The daemons it launches run this script again with the same options, so they use the same stand-ins. Run as a script,
its folder is on sys.path, so the stand-in modules import by name.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from archloop.cli import Wiring, main
from archloop.run.daemon import Checkpoint, StagesFactory


def _scripted(slow: float) -> StagesFactory:
    from scripted_stages import ScriptedStages

    return lambda config, run_dir: ScriptedStages(run_dir / "scripted-state.json", slow=slow)


def _seed_variants(slow: float) -> StagesFactory:
    from real_stages import SeedVariantStages

    return SeedVariantStages  # built as (config, run_dir); replays at its own pace


STAGES = {"scripted": _scripted, "seed-variants": _seed_variants}


def halt_at(spec: str, run_dir: Path) -> Checkpoint:
    name, _, cycle_text = spec.partition(":")
    want_cycle = int(cycle_text) if cycle_text else None

    def checkpoint(stage: str, cycle: int) -> None:
        if stage == name and (want_cycle is None or cycle == want_cycle):
            (run_dir / "halted").write_text(f"{stage}:{cycle}\n")
            threading.Event().wait()  # blocks for good: the test kills this process here

    return checkpoint


def _run_dir(command: list[str]) -> Path | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--run-dir")
    known, _ = parser.parse_known_args(command)
    return Path(known.run_dir).expanduser().resolve() if known.run_dir else None


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="daemon_entry.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", choices=sorted(STAGES), default="scripted")
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--halt-at", default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="an archloop command and its arguments")
    options = parser.parse_args(argv)
    if not options.command:
        parser.error("name an archloop command (start, run, attach, daemon, ...)")
    own = ["--stages", options.stages, "--slow", str(options.slow)]
    if options.halt_at:
        own += ["--halt-at", options.halt_at]
    checkpoint = None
    if options.halt_at:
        run_dir = _run_dir(options.command)
        if run_dir is None:
            parser.error("--halt-at needs a command with --run-dir")
        checkpoint = halt_at(options.halt_at, run_dir)
    wiring = Wiring(
        stages_factory=STAGES[options.stages](options.slow),
        checkpoint=checkpoint,
        daemon_command=(sys.executable, str(Path(__file__).resolve()), *own, "daemon"),
    )
    return main(options.command, wiring)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
