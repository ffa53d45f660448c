"""Run configuration: a TOML file (optionally naming a preset) parsed into a validated dataclass tree.

Each stage package owns its sections (llm/settings.py `[model]`, `[generation]`, `[lora]`, `[sft]`;
novelty/settings.py `[novelty]`; evaluation/settings.py `[evaluation]`); this module composes them with the loop's
own `[run]` and `[selection]`, checks every key against its type and declared check, and loads the presets.

A config file looks like the presets in `archloop/presets/*.toml`: top-level `preset = "demo"` picks a base, and
tables (`[run]`, `[model]`, `[generation]`, ...) override single keys of it. Every problem is a `ConfigError` whose
message names the file, the table and the key ("config.toml: [generation] temperature must be a number > 0, got
'hot'"); nothing here raises anything else for bad input.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from archloop.cache import DEFAULT_CACHE_DIR
from archloop.corpus.settings import CorpusSettings
from archloop.evaluation.settings import EvaluationSettings
from archloop.llm.settings import GenerationSettings, LoraSettings, ModelSettings, SftSettings
from archloop.novelty.settings import NoveltySettings
from archloop.settings import Check, ConfigError, non_empty, non_negative, percent, positive, setting

__all__ = ["ConfigError", "RunConfig", "config_from_dict", "known_presets", "load_config"]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10 hosts
    import tomli as tomllib

PRESET_DIR = Path(__file__).parent / "presets"


# ---- the sections the loop itself reads (run/ sits above this module, so they are defined here) ------------------


@dataclass(frozen=True)
class RunSettings:
    name: str = setting("archloop-run", non_empty(), "a human name for the run")
    cycles: int = setting(22, positive(), "how many cycles `start` runs (cycle.run adds more)")
    candidates_per_cycle: int = setting(150, positive(), "candidates generated per cycle")
    seed: int = setting(0, non_negative(), "base random seed: sampling, training and fine-tuning derive theirs from it")
    cache_dir: str | None = setting(None, None, f"built demo model and decoded data sets (default {DEFAULT_CACHE_DIR})")
    min_free_disk_mb: int = setting(
        2048,
        non_negative(),
        "free space (MB) the run folder's disk must have before each stage that writes, else the run ends (0 = off)",
    )
    # Checked between batches and stages; reaching one ends the run with run.finished reason 'budget' (0 = none).
    budget_gpu_hours: float = setting(
        0.0, non_negative(), "device hours (generation + evaluation + fine-tune; CPU-hours on a host without a GPU)"
    )
    budget_tokens: int = setting(0, non_negative(), "tokens generated plus tokens fine-tuned on")
    budget_wall_hours: float = setting(0.0, non_negative(), "hours the loop spends working (pauses excluded)")


@dataclass(frozen=True)
class SelectionSettings:
    threshold: float = setting(40.0, percent(), "accuracy (%) that selects a novel candidate")
    fallback_threshold: float = setting(35.0, percent(), "lower bar used to fill up to min_selected")
    min_selected: int = setting(15, non_negative(), "fill with fallback candidates up to this many")


# ---- the tree: each stage's own section ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    preset: str | None = None
    run: RunSettings = field(default_factory=RunSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    novelty: NoveltySettings = field(default_factory=NoveltySettings)
    corpus: CorpusSettings = field(default_factory=CorpusSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    selection: SelectionSettings = field(default_factory=SelectionSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    sft: SftSettings = field(default_factory=SftSettings)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (stored with the run, and round-trips through `config_from_dict`)."""
        return dataclasses.asdict(self)


_SECTION_TYPES: dict[str, type] = {
    "run": RunSettings,
    "model": ModelSettings,
    "generation": GenerationSettings,
    "novelty": NoveltySettings,
    "corpus": CorpusSettings,
    "evaluation": EvaluationSettings,
    "selection": SelectionSettings,
    "lora": LoraSettings,
    "sft": SftSettings,
}

# ---- loading -----------------------------------------------------------------------------------------------------


def known_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_config(path: Path | None = None, preset: str | None = None) -> RunConfig:
    """Build a RunConfig from a file, a preset, or both (the file's keys override the preset's).

    `preset` (from the command line) wins over a `preset = ...` line in the file. With neither, the defaults are the
    paper's settings. Raises ConfigError naming the file and key for anything wrong.
    """
    user: dict[str, Any] = {}
    source = "config"
    if path is not None:
        source = path.name
        user = _read_toml(path)
    file_preset = user.pop("preset", None)
    if file_preset is not None and not isinstance(file_preset, str):
        raise ConfigError(f"{source}: preset must be a string, got {file_preset!r}")
    chosen = preset or file_preset
    merged: dict[str, Any] = {}
    if chosen is not None:
        merged = _read_preset(chosen, source)
        merged.pop("preset", None)
    for name, table in user.items():
        if isinstance(table, dict) and isinstance(merged.get(name), dict):
            merged[name] = {**merged[name], **table}
        else:
            merged[name] = table
    return config_from_dict(merged, source=source, preset=chosen)


def config_from_dict(data: Mapping[str, Any], *, source: str = "config", preset: str | None = None) -> RunConfig:
    """Validate a parsed TOML (or stored JSON) mapping into a RunConfig; ConfigError on any problem."""
    data = dict(data)
    if "preset" in data:
        stored = data.pop("preset")
        preset = preset if preset is not None else stored
    _replaced_lemur_key(data, source)
    unknown = sorted(set(data) - set(_SECTION_TYPES))
    if unknown:
        raise ConfigError(f"{source}: unknown table or key {unknown[0]!r} (known: {', '.join(_SECTION_TYPES)})")
    sections: dict[str, Any] = {}
    for name, cls in _SECTION_TYPES.items():
        table = data.get(name, {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: [{name}] must be a table, got {table!r}")
        sections[name] = _build_section(cls, name, table, source)
    config = RunConfig(preset=preset, **sections)
    _check_cross_keys(config, source)
    return config


def _replaced_lemur_key(data: dict[str, Any], source: str) -> None:
    """`[novelty] lemur_corpus` became `[corpus] lemur`: say so when it is set (runs stored it as None: dropped)."""
    novelty = data.get("novelty")
    if isinstance(novelty, Mapping) and "lemur_corpus" in novelty:
        if novelty["lemur_corpus"] is not None:
            raise ConfigError(
                f"{source}: [novelty] lemur_corpus was replaced by [corpus] lemur (a LEMUR checkout, the nn-dataset"
                " 2.1.2 wheel or a folder in its layout): move the path there"
            )
        data["novelty"] = {k: v for k, v in novelty.items() if k != "lemur_corpus"}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML ({exc})") from None


def _read_preset(name: str, source: str) -> dict[str, Any]:
    presets = known_presets()
    if name not in presets:
        raise ConfigError(f"{source}: unknown preset {name!r} (known presets: {', '.join(presets)})")
    return _read_toml(PRESET_DIR / f"{name}.toml")


def _build_section(cls: type, section: str, table: Mapping[str, Any], source: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: [{section}] unknown key {unknown[0]!r} (known: {', '.join(fields)})")
    values: dict[str, Any] = {}
    for name, value in table.items():
        where = f"{source}: [{section}] {name}"
        check: Check | None = fields[name].metadata.get("check")
        coerced = _coerce(value, hints[name], where, f" {check[1]}" if check else "")
        if check is not None and coerced is not None and not check[0](coerced):
            # A check that lists the allowed values ("'cpu', 'cuda' or 'cuda:N'") needs no type word before it.
            what = check[1] if check[1].startswith("'") else f"{_type_word(hints[name])} {check[1]}"
            raise ConfigError(f"{where} must be {what}, got {value!r}")
        values[name] = coerced
    try:
        return cls(**values)
    except ValueError as exc:  # a section's own consistency check
        raise ConfigError(f"{source}: [{section}] {exc}") from None


def _coerce(value: Any, hint: Any, where: str, bound: str = "") -> Any:
    """Check `value` against a type hint; ints are accepted where floats are wanted (TOML writes 1 for 1.0)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value == "" and type(None) in args):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where, bound)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(repr(a) for a in args)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list of {_type_word(args[0])}s, got {value!r}")
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer{bound}, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{where} must be a number{bound}, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string{bound}, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported setting type {hint!r}")  # a bug in this module, reported plainly


def _type_word(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _type_word(next(a for a in typing.get_args(hint) if a is not type(None)))
    if origin is list:
        return "a list"
    return {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}.get(hint, "a value")


def _check_cross_keys(config: RunConfig, source: str) -> None:
    if config.selection.fallback_threshold > config.selection.threshold:
        raise ConfigError(
            f"{source}: [selection] fallback_threshold ({config.selection.fallback_threshold}) must not exceed "
            f"threshold ({config.selection.threshold})"
        )
