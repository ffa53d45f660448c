"""Command line of the ArchLoop backend: `python -m archloop <command>`.

Each command is one function registered in COMMANDS; the extension drives the same commands over SSH.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from archloop import PROTOCOL_VERSION, __version__

DEFAULT_RUN_ROOT = Path.home() / ".archloop" / "runs"


def cmd_doctor(args: argparse.Namespace) -> int:
    from archloop.doctor import format_report, report_dict, run_doctor

    report = run_doctor(Path(args.run_root).expanduser())
    if args.json:
        json.dump(report_dict(report), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(report))
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archloop",
        description="ArchLoop backend: generate, validate, train, novelty-filter and LoRA-fine-tune CIFAR-10 nets.",
    )
    parser.add_argument("--version", action="version", version=f"archloop {__version__} (protocol {PROTOCOL_VERSION})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    doctor = sub.add_parser("doctor", help="report what this host has and lacks (Python, torch, GPUs, packages, disk, data)")
    doctor.add_argument("--json", action="store_true", help="machine-readable report (used by the extension)")
    doctor.add_argument("--run-root", default=str(DEFAULT_RUN_ROOT), help="where runs are kept (for the free-disk check)")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    return func(args)
