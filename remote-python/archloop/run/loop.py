"""The closed loop: cycles of generate -> validate -> novelty -> evaluate -> select -> fine-tune, resumable.

All state lives in the run store; this module holds none between steps, so a process killed at any moment resumes
at the first unfinished step: a cycle continues at its recorded stage, a candidate at its recorded status. A
candidate is opened (candidate.started) before sampling; one left 'generating' by a crash is sampled again under the
same id (it was never committed, so nothing is duplicated); a committed candidate is never sampled again.

Failures: a bad candidate is a classified outcome, never an exception. An exception from a stage (a broken host, a
model that will not load, too little free disk before a stage that writes) is recorded as a fatal run.error and
re-raised as LoopError for the daemon to report.

Costs and budgets (run/costs.py): each cycle.finished carries what the cycle spent; between batches and stages the
loop checks the `[run] budget_*` caps, and one reached ends the run with run.finished reason 'budget'.

Disk: each finished cycle deletes the adapters retention no longer keeps (run/hygiene.py).

One module though over 400 lines: the cycle's steps and their resume points read best in order in one place.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archloop.cache import cache_root
from archloop.config import RunConfig
from archloop.corpus.lemur import LemurSet, build_lemur_set
from archloop.run.costs import Devices, budget_reason, cycle_cost
from archloop.run.hygiene import ADAPTERS_DIR, DiskFree, LowDiskError, check_free_disk, disk_free_bytes, prune_adapters
from archloop.run.records import AdapterRecord, CandidateRecord
from archloop.run.selection import SelectionRule, cycle_stats, select_candidates
from archloop.run.stages import CorpusEntry, EvalJob, NoveltyIndex, Stages
from archloop.run.store import RunStore

# Fine-tune progress is persisted (it is an event), so throttle it: the dashboard needs a few updates a second at most.
PROGRESS_EVENT_INTERVAL_S = 1.0


class LoopError(RuntimeError):
    """A stage failed for a reason that is not the candidate's (recorded as a fatal run.error first)."""


def _no_stop() -> bool:
    return False


def _noop(*_args: Any) -> None:
    return None


@dataclass
class LoopHooks:
    """How the loop talks to whoever runs it (the daemon, or `archloop run` in the foreground)."""

    should_stop: Callable[[], bool] = _no_stop
    # Blocks while the run is paused; called only at safe points (between candidates, batches and stages).
    wait_if_paused: Callable[[], None] = _noop
    on_stream: Callable[[dict[str, Any]], None] = _noop
    # Named points ('generation', 'evaluation', 'before-selection', 'finetune', 'between-cycles', ...): a test hook
    # that lets a kill land at a deterministic place.
    checkpoint: Callable[[str, int], None] = _noop
    on_cycle_finished: Callable[[dict[str, Any]], None] = _noop


@dataclass
class _StageClock:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, started: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + (time.perf_counter() - started)


class RunLoop:
    def __init__(
        self,
        store: RunStore,
        config: RunConfig,
        stages: Stages,
        hooks: LoopHooks | None = None,
        disk_free: DiskFree = disk_free_bytes,
    ) -> None:
        self.store = store
        self._disk_free = disk_free
        self.config = config
        self.stages = stages
        self.hooks = hooks or LoopHooks()
        self.run_id = store.run_id
        self._seeds: list[CorpusEntry] | None = None
        self._index: NoveltyIndex | None = None
        self._index_version = -1
        self._seed_signatures: set[str] | None = None
        self._seed_pair_cache: list[tuple[str, str]] | None = None
        self._lemur: LemurSet | None = None
        self._seed_origins = {"seed": 0, "lemur": 0}
        self._devices: Devices | None = None
        # Set once a budget is reached (read by the executor's stop predicate, from its own threads).
        self._budget_hit: str | None = None
        self._writer: str | None = None  # the adapter generating the current cycle (None: the base model)

    # ---- driving -----------------------------------------------------------------------------------------------

    def run(self) -> str:
        """Run cycles until the target is reached ('completed') or a stop is asked ('stopped')."""
        info = self.store.run_info()
        if info.state == "finished" and self.store.finished_cycles() >= info.target_cycles:
            return "completed"  # started again with nothing to do: no second run.finished
        self.store.set_state("running")
        self._prune_adapters()  # what a crash between a cycle's end and its pruning left
        while True:
            self.hooks.wait_if_paused()
            info = self.store.run_info()
            done = self.store.finished_cycles()
            if self.hooks.should_stop():
                self.store.run_finished("stopped", done, "stopped")
                return "stopped"
            if self._over_budget():
                self.store.run_finished("budget", done, "stopped", detail=self._budget_hit)
                return "budget"
            if done >= info.target_cycles:
                self.store.run_finished("completed", done, "finished")
                return "completed"
            self.run_cycle(done + 1)

    def run_cycle(self, cycle: int) -> bool:
        """Advance `cycle` from its recorded stage to the end; False if a stop interrupted it."""
        previous = self.store.latest_adapter(cycle)
        self.store.start_cycle(cycle, self.config.run.candidates_per_cycle, previous.id if previous else None)
        steps: dict[str, Callable[[int], bool]] = {
            "generating": self._generate,
            "evaluating": self._evaluate,
            "selecting": self._select,
            "finetuning": self._finetune,
        }
        while True:
            record = self.store.cycle(cycle)
            assert record is not None
            if record.stage == "finished":
                return True
            try:
                finished_step = steps[record.stage](cycle)
            except LowDiskError as exc:
                self.store.run_error(str(exc), record.stage, fatal=True)  # the message says what to free
                raise LoopError(f"cycle {cycle} {record.stage}: {exc}") from exc
            except Exception as exc:
                self.store.run_error(f"{type(exc).__name__}: {exc}", record.stage, fatal=True)
                raise LoopError(f"cycle {cycle} {record.stage}: {exc}") from exc
            if not finished_step:
                return False

    def _check_disk(self, stage: str) -> None:
        check_free_disk(self.store.run_dir, self.config.run.min_free_disk_mb, stage, self._disk_free)

    def _prune_adapters(self) -> None:
        # The next cycle to run is the first unfinished one: the adapter it continues from is never deleted.
        prune_adapters(self.store, self.config.sft.keep_adapters, self.store.finished_cycles() + 1)

    def _stopping(self, clock: _StageClock | None = None) -> bool:
        """At a safe point: a stop asked for, or a budget reached (the run then ends with its reason)."""
        if self.hooks.should_stop() or self._over_budget(clock):
            return True
        self.hooks.wait_if_paused()
        return self.hooks.should_stop()

    def devices(self) -> Devices:
        if self._devices is None:
            self._devices = Devices.of(self.config)
        return self._devices

    def _over_budget(self, clock: _StageClock | None = None) -> bool:
        """Whether a `[run] budget_*` is reached, counting the current stage's uncommitted seconds from `clock`."""
        run = self.config.run
        if self._budget_hit is None and (run.budget_gpu_hours or run.budget_tokens or run.budget_wall_hours):
            pending = clock.seconds if clock is not None else None
            self._budget_hit = budget_reason(run, self.store.cost_totals(), self.devices(), pending)
        return self._budget_hit is not None

    # ---- novelty corpus ----------------------------------------------------------------------------------------

    def _seed_corpus(self) -> list[CorpusEntry]:
        if self._seeds is None:
            self._seeds = self.stages.seed_corpus() + self._lemur_corpus()
        return self._seeds

    def _lemur_set(self) -> LemurSet | None:
        """The `[corpus]` LEMUR nets (accurate, contract-conforming, deduplicated), built once and cached on disk."""
        if self._lemur is None and self.config.corpus.enabled:
            self._lemur = build_lemur_set(self.config.corpus, cache_root(self.config.run.cache_dir))
        return self._lemur

    def _lemur_corpus(self) -> list[CorpusEntry]:
        """Every kept LEMUR net is novelty corpus; the first `max_pairs` are also training pairs (_seed_pairs)."""
        lemur = self._lemur_set()
        return [CorpusEntry(net.key, net.code) for net in lemur.nets] if lemur else []

    def _novelty_index(self) -> NoveltyIndex:
        """Seeds + LEMUR + every accepted candidate, rebuilt when a verdict changed (a reject leaves the corpus)."""
        version = self.store.verdict_version()
        if self._index is None or version != self._index_version:
            index = self.stages.new_novelty_index()
            for entry in self._seed_corpus():
                index.add(entry.key, entry.code)
            for c in self.store.corpus_candidates():
                if c.code is not None:
                    index.add(c.id, c.code)
            self._index, self._index_version = index, version
        return self._index

    # ---- generate, validate, novelty ---------------------------------------------------------------------------

    def _generate(self, cycle: int) -> bool:
        clock = _StageClock()
        try:
            # First finish candidates a crash left between steps (committed code is never sampled again).
            for c in self.store.candidates(cycle):
                if c.status in ("generated", "validated"):
                    self._check_candidate(cycle, c.id, clock)
            total = self.config.run.candidates_per_cycle
            existing = {c.index: c.status for c in self.store.candidates(cycle)}
            todo = [i for i in range(total) if existing.get(i, "generating") == "generating"]
            previous = self.store.latest_adapter(cycle)
            adapter_dir = Path(previous.dir) if previous else None
            self._writer = previous.id if previous else None  # lineage: the adapter that writes this cycle's nets
            batch_size = self.config.generation.batch_size
            for start in range(0, len(todo), batch_size):
                if self._stopping(clock):
                    return False
                batch = todo[start : start + batch_size]
                self._check_disk("generation")
                if not self._generate_batch(cycle, batch, adapter_dir, clock):
                    return False
        finally:
            for name, seconds in clock.seconds.items():
                self.store.add_stage_seconds(cycle, name, seconds)
        self.store.set_cycle_stage(cycle, "evaluating")
        return True

    def _generate_batch(self, cycle: int, indices: list[int], adapter_dir: Path | None, clock: _StageClock) -> bool:
        ids = [self.store.start_candidate(cycle, i)[0] for i in indices]
        offsets = [0] * len(ids)

        def on_delta(position: int, delta: str, restart: bool) -> None:
            if restart:
                offsets[position] = 0
            self.hooks.on_stream(self._stream(cycle, ids[position], offsets[position], delta, False))
            offsets[position] += len(delta)

        novelty_cfg = self.config.novelty

        def check(code: str, attempt: int) -> bool:
            if not self.stages.quick_check(code):
                return False
            if not novelty_cfg.check_at_generation or attempt > novelty_cfg.let_through_after:
                return True  # the paper lets a candidate through after this many novelty rejections
            return self._novelty_index().query(code).novel

        started = time.perf_counter()
        seed = self.config.run.seed * 1_000_003 + cycle * 10_007 + indices[0]  # the same batch, the same draw
        results = self.stages.generate(len(ids), adapter_dir, on_delta, check, self.hooks.should_stop, seed)
        clock.add("generate", started)
        for result in sorted(results, key=lambda r: r.position):
            cid = ids[result.position]
            raw = result.raw if result.raw is not None and result.raw != result.code else None
            self.store.candidate_generated(
                cid, result.code, result.attempts, result.tokens, result.seconds, raw=raw, adapter=self._writer
            )
            self.hooks.on_stream(self._stream(cycle, cid, offsets[result.position], "", True))
            self.hooks.checkpoint("generation", cycle)
            self._check_candidate(cycle, cid, clock)
        return len(results) == len(ids) and not self.hooks.should_stop()

    def _check_candidate(self, cycle: int, cid: str, clock: _StageClock) -> None:
        """Validate a generated candidate, then (if valid) measure its novelty; each result committed as it comes."""
        record = self.store.candidate(cid)
        assert record is not None and record.code is not None
        code = record.code
        if record.status == "generated":
            started = time.perf_counter()
            v = self.stages.validate(code)
            clock.add("validate", started)
            self.store.candidate_validated(
                cid,
                v.ok,
                v.outcome,
                v.message,
                v.line,
                v.params,
                layers=v.layers,
                layers_truncated=v.layers_truncated,
                seconds=time.perf_counter() - started,
            )
            if not v.ok:
                return
        started = time.perf_counter()
        novelty = self._novelty_index().query(code)
        signature = self.stages.signature(code)
        # The model's duplicates were already re-sampled at generation; a person's were not, so the gate holds.
        let_through = not novelty.novel and self.config.novelty.check_at_generation and record.origin == "model"
        self.store.candidate_novelty(
            cid,
            novelty.max_jaccard,
            novelty.nearest,
            novelty.novel,
            signature,
            let_through,
            measures=list(novelty.measures) or None,
            explanation=novelty.explanation,
        )
        # A reject that came while it was generating keeps it out of the corpus (later ones rebuild the index).
        current = self.store.candidate(cid)
        rejected = current is not None and current.verdict == "reject"
        if novelty.novel and not rejected and self._index is not None:
            self._index.add(cid, code)
        clock.add("novelty", started)

    def _stream(self, cycle: int, cid: str, offset: int, delta: str, done: bool) -> dict[str, Any]:
        return {
            "type": "stream",
            "run": self.run_id,
            "cycle": cycle,
            "candidate": cid,
            "offset": offset,
            "delta": delta,
            "done": done,
        }

    # ---- evaluate ----------------------------------------------------------------------------------------------

    def _check_submitted(self, cycle: int) -> None:
        """Validate and measure candidates a person submitted while the cycle was generating (candidate.submit
        stores them as generated; the store puts later ones in the next cycle, whose generation checks them)."""
        clock = _StageClock()
        for c in self.store.candidates(cycle):
            if c.status in ("generated", "validated"):
                self._check_candidate(cycle, c.id, clock)
        for name, seconds in clock.seconds.items():
            self.store.add_stage_seconds(cycle, name, seconds)

    def _evaluate(self, cycle: int) -> bool:
        self._check_submitted(cycle)
        jobs = [
            EvalJob(c.id, c.code, self._candidate_seed(c))
            for c in self.store.candidates(cycle)
            if c.status == "checked" and c.code is not None and (c.novel or c.let_through)
        ]
        if jobs:
            self._check_disk("evaluation")
        started = time.perf_counter()
        eval_device = self.devices().evaluation

        def stop_evaluating() -> bool:
            return self.hooks.should_stop() or self._budget_hit is not None

        try:
            if jobs and not self._stopping():
                for result in self.stages.evaluate(jobs, stop_evaluating):
                    self.store.candidate_evaluated(
                        result.candidate,
                        outcome=result.outcome,
                        accuracy=None if result.accuracy is None else round(float(result.accuracy), 4),
                        params=result.params,
                        train_seconds=result.train_seconds,
                        eval_seconds=result.eval_seconds,
                        peak_memory_mb=result.peak_memory_mb,
                        images_per_second=result.images_per_second,
                        message=result.message,
                        data=result.data,
                        protocol=result.protocol,
                        epochs=result.epochs,
                        device=eval_device,
                    )
                    self.hooks.checkpoint("evaluation", cycle)
                    self._over_budget()  # a budget reached ends evaluation after this result (stop_evaluating)
        finally:
            self.store.add_stage_seconds(cycle, "evaluate", time.perf_counter() - started)
        if stop_evaluating():
            return False
        for c in self.store.candidates(cycle):
            if c.status == "checked" and (c.novel or c.let_through):
                # The executor ended without a result for it (a lost worker): classify rather than loop forever.
                self.store.candidate_evaluated(
                    c.id,
                    outcome="crashed",
                    accuracy=None,
                    params=None,
                    train_seconds=None,
                    eval_seconds=None,
                    peak_memory_mb=None,
                    images_per_second=None,
                    message="the executor returned no result for this candidate",
                )
        self.store.set_cycle_stage(cycle, "selecting")
        self.hooks.checkpoint("before-selection", cycle)
        return not self._stopping()

    def _candidate_seed(self, c: CandidateRecord) -> int:
        return self.config.run.seed * 1_000_003 + c.cycle * 10_007 + c.index

    # ---- select ------------------------------------------------------------------------------------------------

    def _seen_signatures(self, cycle: int) -> set[str]:
        if self._seed_signatures is None:
            self._seed_signatures = {self.stages.signature(e.code) for e in self._seed_corpus()}
        earlier = {c.signature for c in self.store.training_candidates(cycle - 1) if c.signature}
        return self._seed_signatures | earlier

    def _seed_pairs(self) -> list[tuple[str, str]]:
        if self._seed_pair_cache is None:
            codes = [e.code for e in self.stages.seed_corpus()] if self.config.sft.include_seed_pairs else []
            seeds = len(codes)
            lemur = self._lemur_set()  # the paper's fine-tuning set starts from LEMUR (1,698 pairs at cycle 1)
            codes += [net.code for net in lemur.nets[: self.config.corpus.max_pairs]] if lemur else []
            pairs = [self.stages.training_pair(code) for code in codes]
            self._seed_pair_cache = [p for p in pairs if p is not None]
            kept_seeds = sum(1 for p in pairs[:seeds] if p is not None)
            self._seed_origins = {"seed": kept_seeds, "lemur": len(self._seed_pair_cache) - kept_seeds}
        return self._seed_pair_cache

    def _select(self, cycle: int) -> bool:
        started = time.perf_counter()
        s = self.config.selection
        rule = SelectionRule(s.threshold, s.fallback_threshold, s.min_selected, self.config.novelty.structural_dedup)
        # Verdicts are read here, at the selection step: those given before it apply to this cycle.
        selection = select_candidates(self.store.candidates(cycle), rule, self._seen_signatures(cycle))
        prior = len(self.store.training_candidates(cycle - 1))
        total = len(self._seed_pairs()) + prior + len(selection.reasons)
        self.store.record_selection(cycle, selection.reasons, total, time.perf_counter() - started)
        self.hooks.checkpoint("after-selection", cycle)
        return not self._stopping()

    # ---- fine-tune ---------------------------------------------------------------------------------------------

    def _training_pairs(self, cycle: int) -> list[tuple[str, str]]:
        """The cumulative set as of now: seeds, then every selected or accepted (never rejected) candidate."""
        return self._training_set(cycle)[0]

    def _training_set(self, cycle: int) -> tuple[list[tuple[str, str]], dict[str, int]]:
        """The training pairs and how many came from each origin (lineage: finetune.done's pairsByOrigin)."""
        seeds = self._seed_pairs()
        origins = {**self._seed_origins, "selected": 0, "accepted": 0}
        pairs = list(seeds)
        human = 0
        for c in self.store.training_candidates(cycle):
            pair = self.stages.training_pair(c.code) if c.code else None
            if pair is not None:
                pairs.append(pair)
                origins["accepted" if c.verdict == "accept" else "selected"] += 1
                human += c.origin == "human"
        if human:
            origins["human"] = human  # of the selected and accepted: written in the editor (candidate.submit)
        return pairs, origins

    def _finetune(self, cycle: int) -> bool:
        started = time.perf_counter()
        pairs, origins = self._training_set(cycle)
        previous = self.store.latest_adapter(cycle)
        out_dir = self.store.run_dir / ADAPTERS_DIR / f"cycle-{cycle}"
        if out_dir.exists():
            shutil.rmtree(out_dir)  # a crash mid-fine-tune left a partial adapter: train it again from the previous
        self._check_disk("fine-tune")
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        last_event = [0.0]
        first = [True]

        def on_progress(step: int, total: int, loss: float | None, eta: float | None) -> None:
            now = time.monotonic()
            if step < total and now - last_event[0] < PROGRESS_EVENT_INTERVAL_S and not first[0]:
                return
            last_event[0] = now
            self.store.append_event(
                "finetune.progress",
                {
                    "cycle": cycle,
                    "step": max(0, step),
                    "total": max(0, total),
                    "loss": None if loss is None or loss != loss else float(loss),
                    "etaSeconds": None if eta is None else max(0.0, float(eta)),
                },
            )
            if first[0]:
                first[0] = False
                self.hooks.checkpoint("finetune", cycle)

        outcome = self.stages.finetune(
            cycle, pairs, Path(previous.dir) if previous else None, out_dir, on_progress, self.hooks.should_stop
        )
        if outcome.cancelled:
            self.store.add_stage_seconds(cycle, "finetune", time.perf_counter() - started)
            return False
        adapter = AdapterRecord(
            cycle=cycle,
            id=f"cycle-{cycle}",
            dir=str(out_dir),
            steps=outcome.steps,
            loss=outcome.final_loss,
            seconds=outcome.seconds,
            pairs=len(pairs),
        )
        lineage = {"tokens": max(0, outcome.tokens), "pairsByOrigin": origins}
        self.store.record_adapter(adapter, time.perf_counter() - started, lineage)
        record = self.store.cycle(cycle)
        assert record is not None
        candidates = self.store.candidates(cycle)
        stats = cycle_stats(
            cycle,
            candidates,
            unique_models=sum(1 for c in candidates if c.selected),
            total_train_prompts=len(pairs),
            stage_seconds=record.stage_seconds,
            threshold=self.config.selection.threshold,
        )
        cost = cycle_cost(self.store.cost_totals(cycle), self.devices(), len(pairs))
        self.store.finish_cycle(cycle, stats, cost)
        self._prune_adapters()  # only now: a fine-tune redone after a crash still finds the adapter it started from
        self.hooks.on_cycle_finished(stats)
        self.hooks.checkpoint("between-cycles", cycle)
        return True


def _executor_label(config: RunConfig) -> str:
    """What run.created says about where candidates train (<= 64 characters): the executor and, for Ray, the cluster
    it joins. The cluster's nodes and GPUs are in `archloop doctor --ray-address`."""
    ev = config.evaluation
    if ev.executor != "ray":
        return ev.executor
    return f"ray @ {ev.ray_address or os.environ.get('RAY_ADDRESS') or 'a local Ray instance'}"[:64]


def open_run(run_dir: Path, config: RunConfig, on_commit: Any = None) -> RunStore:
    """Open the run in `run_dir`, creating it with `config` (and its run.created event) if there is none yet.

    An existing run keeps its stored configuration: resuming never silently changes the settings of a run.
    """
    created = {
        "name": config.run.name[:256],
        "preset": config.preset,
        "model": config.model.id[:512],
        "cycles": config.run.cycles,
        "candidatesPerCycle": config.run.candidates_per_cycle,
        "protocol": config.evaluation.protocol,
        "executor": _executor_label(config),
        "config": config.to_dict(),
    }
    return RunStore.create_run(
        run_dir,
        name=config.run.name,
        preset=config.preset,
        config=config.to_dict(),
        target_cycles=config.run.cycles,
        created_event=created,
        on_commit=on_commit,
    )
