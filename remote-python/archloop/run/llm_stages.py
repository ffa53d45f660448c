"""`LlmStages`: the Stages a real run uses (the code LLM, the sandbox, the executor, MinHash, LoRA), built by
`build_stages(config, run_dir)`. Each stage reads its own section of the RunConfig as it is; nothing is re-mapped here.

Generation: transformers + PEFT (llm/generate.py), the model reloaded with the previous cycle's adapter when it
changes. Validation: the sandbox (evaluation/sandbox.py). Evaluation: one epoch in the sandbox on CIFAR-10 or the
synthetic set (evaluation/data.py, evaluate.py). Novelty: MinHash/LSH (novelty/minhash.py). Fine-tuning: PEFT LoRA
(llm/finetune.py).

Memory and time as on a GPU: before candidates train on a device the LLM occupies, the sampling copy is released
(generate() loads it again for the next batch), and an out_of_memory outcome says whose memory was in use
(`memory_probe` is the seam: torch's CUDA counters in a run, a stand-in in tests). Validation has its own short limit
([evaluation] validate_time_limit_s) and a net over [evaluation] max_params is `too_many_params`.

Failures: a model, data set or adapter that cannot be loaded raises (ModelLoadError, DataError, FinetuneError) from
the stage that needs it; the loop records that as a fatal run.error with the message. Candidates never raise.

One module though over 400 lines: it is the one place where the stages meet the run's settings.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from archloop.cache import DEFAULT_CACHE_DIR, cache_root
from archloop.config import RunConfig
from archloop.corpus.seeds import load_seed_corpus
from archloop.evaluation.contract import check_source
from archloop.evaluation.data import DataError, DatasetFiles, cache_cifar10, cache_synthetic, cifar10_candidates
from archloop.evaluation.evaluate import PROTOCOLS, EvalProtocol, EvalResult, EvalTask
from archloop.evaluation.executor import Executor, LocalExecutor
from archloop.evaluation.launcher import ForkServer
from archloop.evaluation.sandbox import SandboxLimits, make_fork_server, validate_candidate
from archloop.llm.demo_model import DEMO_MODEL_ID, ensure_demo_model, models_dir, strip_seed_header
from archloop.llm.finetune import finetune
from archloop.llm.generate import Generator, LoadedModel, load_model
from archloop.llm.prompts import PromptError, training_pair
from archloop.llm.reply import extract_code
from archloop.novelty.minhash import NoveltySettings
from archloop.novelty.structure import structural_signature
from archloop.novelty.three_way import FeatureCache, ThreeWayIndex
from archloop.run.stages import (
    CodeCheck,
    CorpusEntry,
    DeltaCallback,
    EvalJob,
    Evaluation,
    FinetuneOutcome,
    GeneratedCode,
    Novelty,
    ProgressCallback,
    StopPredicate,
    Validation,
)


class _MinHashNovelty:
    """Novelty three ways; the token measure's score and nearest are the headline (the paper's gate)."""

    def __init__(self, settings: NoveltySettings, cache: FeatureCache | None = None) -> None:
        self._index = ThreeWayIndex(settings, cache)

    def add(self, key: str, code: str) -> None:
        self._index.add(key, code)

    def query(self, code: str) -> Novelty:
        # When LSH finds no near-duplicate this still names the closest stored net (exact over all of them), so the
        # editor can diff against it and the dashboard shows a real score instead of 0.
        result = self._index.query(code)
        tokens = result.of("minhash")
        measures = tuple(measure.wire() for measure in result.measures)
        return Novelty(float(tokens.score), tokens.nearest, result.novel, measures, result.explanation)


@dataclasses.dataclass(frozen=True)
class DeviceMemory:
    free_bytes: int
    total_bytes: int
    held_bytes: int  # by this process: the LLM's weights and caches while it is loaded


# What a device's memory looks like now; None for a device that is not a CUDA GPU.
MemoryProbe = Callable[[str], "DeviceMemory | None"]


def cuda_memory(device: str) -> DeviceMemory | None:
    if not device.startswith("cuda") or not _cuda():
        return None
    import torch

    index = torch.device(device).index or 0
    free, total = torch.cuda.mem_get_info(index)
    return DeviceMemory(int(free), int(total), int(torch.cuda.memory_reserved(index)))


def shares_device(model_device: str, eval_device: str) -> bool:
    """Whether candidates training on `eval_device` compete with the LLM placed by `[model] device`."""
    if not eval_device.startswith("cuda"):
        return False
    if model_device == "auto":
        return True  # device_map="auto" spreads the model over every visible GPU
    first = "cuda:0"
    return (first if model_device == "cuda" else model_device) == (first if eval_device == "cuda" else eval_device)


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f}"


class LlmStages:
    """The real stages of a run: see the module docstring."""

    def __init__(self, config: RunConfig, run_dir: Path, memory_probe: MemoryProbe = cuda_memory) -> None:
        self.config = config
        self.run_dir = run_dir
        self.cache = cache_root(config.run.cache_dir)
        self._model_path: str | None = None
        self._loaded: LoadedModel | None = None
        self._dataset: DatasetFiles | None = None
        self._seeds: list[CorpusEntry] | None = None
        self._pool: Executor | None = None
        self._validator: ForkServer | None = None
        self._tokenizer_cache: object | None = None
        self._novelty_features = FeatureCache()  # the corpus's features, reused when the novelty index is rebuilt
        ev = config.evaluation
        self._limits = SandboxLimits(timeout_s=ev.time_limit_s, memory_mb=ev.memory_limit_mb or None)  # 0 = none
        self._validate_limits = dataclasses.replace(self._limits, timeout_s=ev.validate_time_limit_s)
        self._memory = memory_probe
        self._device = ev.devices[0] if ev.devices else ("cuda" if _cuda() else "cpu")

    # ---- corpus and novelty ------------------------------------------------------------------------------------

    def seed_corpus(self) -> list[CorpusEntry]:
        if self._seeds is None:
            self._seeds = [CorpusEntry(f"seed:{s.name}", strip_seed_header(s.code)) for s in load_seed_corpus()]
        return self._seeds

    def new_novelty_index(self) -> _MinHashNovelty:
        return _MinHashNovelty(self.config.novelty, self._novelty_features)

    def signature(self, code: str) -> str:
        return structural_signature(code)

    def quick_check(self, code: str) -> bool:
        return check_source(code).ok

    # ---- generation --------------------------------------------------------------------------------------------

    def model_path(self) -> str:
        """The base model: a hub id or local path, or the embedded demo model (built on first use)."""
        if self._model_path is None:
            if self.config.model.id == DEMO_MODEL_ID:
                self._model_path = str(ensure_demo_model(models_dir(self.cache)))
            else:
                self._model_path = self.config.model.id
        return self._model_path

    def _generator(self, adapter_dir: Path | None) -> Generator:
        if self._loaded is None or self._loaded.adapter_dir != adapter_dir:
            self._release_model()
            model = self.config.model
            self._loaded = load_model(
                self.model_path(), adapter_dir, device=model.device, quantization=model.quantization
            )
        return Generator(self._loaded, self.config.generation)

    def generate(
        self,
        count: int,
        adapter_dir: Path | None,
        on_delta: DeltaCallback,
        check: CodeCheck | None,
        should_stop: StopPredicate,
        seed: int = 0,
    ) -> list[GeneratedCode]:
        generator = self._generator(adapter_dir)
        texts = [""] * count
        attempts = [1] * count
        restart = [True] * count

        def on_attempt(index: int, attempt: int, temperature: float) -> None:
            texts[index], attempts[index], restart[index] = "", attempt, True

        def delta(index: int, text: str) -> None:
            texts[index] += text
            on_delta(index, text, restart[index])
            restart[index] = False

        def checked(code: str) -> bool:
            # The generator checks each slot's extracted code; the code of its streamed reply identifies the slot.
            attempt = next((attempts[i] for i in range(count) if extract_code(texts[i]).code == code), 1)
            return check is None or check(code, attempt)

        results = generator.generate(
            count, check=checked, on_delta=delta, should_stop=should_stop, on_attempt=on_attempt, seed=seed
        )
        return [GeneratedCode(r.index, r.code, r.attempts, r.tokens, r.seconds, r.raw) for r in results]

    def _release_model(self) -> None:
        self._loaded = None
        gc.collect()
        if _cuda():
            import torch

            torch.cuda.empty_cache()

    # ---- validation and evaluation -----------------------------------------------------------------------------

    def validate(self, code: str) -> Validation:
        if self._validator is None:
            self._validator = make_fork_server(self._limits.scratch_root)  # spares each check the torch import
        result = validate_candidate(code, self._validate_limits, device=self._device, launcher=self._validator)
        limit = self.config.evaluation.max_params
        if result.outcome == "ok" and limit and result.params is not None and result.params > limit:
            message = f"{result.params:,} parameters; the limit is {limit:,} ([evaluation] max_params)"
            return Validation(False, "too_many_params", message, None, result.params)
        return Validation(
            result.outcome == "ok",
            result.outcome,
            result.message,
            result.line,
            result.params,
            result.layers,
            result.layers_truncated,
        )

    def dataset(self) -> DatasetFiles:
        if self._dataset is None:
            ev = self.config.evaluation
            data_cache = self.cache / "data"
            if ev.data in ("auto", "cifar10"):
                sources = [Path(ev.data_path).expanduser()] if ev.data_path else cifar10_candidates()
                found = next((p for p in sources if p.exists()), None)
                if found is not None:
                    self._dataset = cache_cifar10(found, data_cache)
                elif ev.data == "cifar10":
                    tried = ", ".join(str(p) for p in sources[:6])
                    raise DataError(f"CIFAR-10 not found (looked in {tried}); set [evaluation] data_path")
            if self._dataset is None:
                self._dataset = cache_synthetic(data_cache, ev.synthetic_train, ev.synthetic_test, self.config.run.seed)
        return self._dataset

    def _executor(self) -> Executor:
        if self._pool is None:
            ev = self.config.evaluation
            if ev.executor == "ray":
                self._pool = self._ray_executor()
                return self._pool
            self._pool = LocalExecutor(
                self.dataset(),
                self._protocol(),
                self._limits,
                workers=ev.workers,
                devices=list(ev.devices) or [self._device],
            )
        return self._pool

    def _ray_executor(self, protocol: EvalProtocol | None = None, limits: SandboxLimits | None = None) -> Executor:
        """Candidates as Ray tasks; each node rebuilds the data set from a spec (the same path or synthetic seed).
        `protocol` and `limits` default to the run's (a re-check passes longer ones).
        Raises RayExecutorError when Ray is missing, the cluster unreachable or the requested share fits no node."""
        from archloop.evaluation.ray_executor import DataSpec, RayExecutor, RaySettings  # Ray is an optional extra

        ev = self.config.evaluation
        # "~" stays unexpanded so each node resolves it for the user its Ray workers run as.
        node_cache = Path(self.config.run.cache_dir or DEFAULT_CACHE_DIR) / "data"
        spec = DataSpec.for_files(
            self.dataset(), node_cache, ev.synthetic_train, ev.synthetic_test, self.config.run.seed
        )
        settings = RaySettings(
            address=ev.ray_address,
            num_cpus=ev.ray_num_cpus,
            num_gpus=ev.ray_num_gpus,
            max_retries=ev.ray_max_retries,
        )
        return RayExecutor(spec, protocol or self._protocol(), limits or self._limits, settings)

    def _protocol(self) -> EvalProtocol:
        """The configured protocol, with the run's batch size when it sets one."""
        ev = self.config.evaluation
        protocol = PROTOCOLS[ev.protocol]
        return protocol if ev.batch_size is None else dataclasses.replace(protocol, batch_size=ev.batch_size)

    def _make_room(self) -> str:
        """Releases the sampling copy of the LLM when candidates train on a GPU it occupies (generate() loads it
        again) and returns whose memory was in use then, for an out_of_memory message ("" off the GPU)."""
        devices = list(dict.fromkeys(self.config.evaluation.devices or [self._device]))
        before = {d: self._memory(d) for d in devices}
        gpus = [d for d in devices if before[d] is not None]
        shared = [d for d in gpus if shares_device(self.config.model.device, d)]
        loaded = self._loaded is not None
        if loaded and shared:
            self._release_model()
        notes = []
        for device in gpus:
            held, now = before[device], self._memory(device)
            assert held is not None and now is not None
            if loaded and device in shared:
                llm = f"the LLM held {_gib(held.held_bytes)} GiB on {device} and was released before training"
            else:
                llm = f"the LLM held {_gib(now.held_bytes)} GiB on {device}"
            others = max(0, now.total_bytes - now.free_bytes - now.held_bytes)
            notes.append(
                f"{llm}; {_gib(now.free_bytes)} of {_gib(now.total_bytes)} GiB were free when training began "
                f"(other processes held {_gib(others)} GiB)"
            )
        return "; ".join(notes)

    def evaluate(self, jobs: Sequence[EvalJob], should_stop: StopPredicate) -> Iterator[Evaluation]:
        tasks = [EvalTask(job.candidate, job.code, job.seed) for job in jobs]
        protocol = self._protocol()
        data = self.data_kind()
        memory = self._make_room()
        for r in self._executor().map_unordered(tasks, should_stop=should_stop):
            message = r.message
            if r.outcome == "out_of_memory" and memory:
                message = f"{message}; {memory}" if message else memory
            yield evaluation_of(r, data=data, protocol=protocol.name, epochs=protocol.epochs, message=message)

    def data_kind(self) -> str | None:
        """What accuracies are measured on: wire EvalData ("synthetic" or "cifar10"), from the loaded data set's name."""
        kind = self.dataset().name.split(":", 1)[0]  # "synthetic:..." or "cifar10:..."
        return kind if kind in ("synthetic", "cifar10") else None

    # ---- fine-tuning -------------------------------------------------------------------------------------------

    def training_pair(self, code: str) -> tuple[str, str] | None:
        # Stored code is extracted already; extracting again (a no-op then) keeps prose and demo code out of the pairs
        # of runs stored before extraction existed.
        extraction = extract_code(code)
        if not extraction.ok:
            return None
        tokenizer = self._tokenizer()
        try:
            pair = training_pair(extraction.code, tokenizer)
        except PromptError:
            return None
        return (pair.prompt, pair.completion)

    def _tokenizer(self) -> object:
        """The base model's tokenizer (its chat template shapes the prompt), loaded once."""
        if self._loaded is not None:
            return self._loaded.tokenizer
        if self._tokenizer_cache is None:
            from transformers import AutoTokenizer

            self._tokenizer_cache = AutoTokenizer.from_pretrained(self.model_path())
        return self._tokenizer_cache

    def finetune(
        self,
        cycle: int,
        pairs: Sequence[tuple[str, str]],
        previous_adapter: Path | None,
        out_dir: Path,
        on_progress: ProgressCallback,
        should_stop: StopPredicate,
    ) -> FinetuneOutcome:
        self._release_model()  # the sampling copy must not sit beside the training one in GPU memory
        sft = self.config.sft
        result = finetune(
            self.model_path(),
            pairs,
            out_dir=out_dir,
            previous_adapter=previous_adapter,
            settings=dataclasses.replace(sft, epochs=sft.epochs_for(cycle)),
            lora=self.config.lora,
            seed=self.config.run.seed + cycle,
            on_progress=on_progress,
            should_stop=should_stop,
            device=self.config.model.device,
            quantization=self.config.model.quantization,
        )
        loss = result.final_loss if result.final_loss == result.final_loss else None  # NaN: no step was taken
        return FinetuneOutcome(result.steps, loss, result.seconds, result.cancelled, tokens=result.tokens)

    def close(self) -> None:
        self._release_model()
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._validator is not None:
            self._validator.close()
            self._validator = None


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def build_stages(config: RunConfig, run_dir: Path) -> LlmStages:
    return LlmStages(config, run_dir)


def evaluation_of(
    r: EvalResult, *, data: str | None, protocol: str | None, epochs: int | None, message: str | None
) -> Evaluation:
    """The loop's record of one sandboxed evaluation (the loop's own or a re-check's)."""
    return Evaluation(
        r.candidate,
        r.outcome,
        r.accuracy,
        r.params,
        r.train_seconds,
        r.eval_seconds,
        r.peak_memory_mb,
        r.images_per_second,
        message,
        data=data,
        protocol=protocol,
        epochs=epochs,
    )
