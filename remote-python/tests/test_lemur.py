"""LEMUR as a run's starting set: a tree the test writes, the real nn-dataset 2.1.2 wheel, and a `paper` run's first
cycle (its training pairs and cycle row count the LEMUR nets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archloop.cache import DEFAULT_CACHE_DIR
from archloop.config import ConfigError, config_from_dict, load_config
from archloop.corpus.lemur import LemurLayoutError, build_lemur_set
from archloop.corpus.seeds import load_seed_corpus
from archloop.corpus.settings import LEMUR_WHEEL, CorpusSettings
from archloop.run.loop import RunLoop, open_run
from tests.scripted_stages import ScriptedStages

SEEDS = {seed.name: seed.code for seed in load_seed_corpus()}
WHEEL = Path(LEMUR_WHEEL).expanduser()
needs_wheel = pytest.mark.skipif(
    not WHEEL.is_file(), reason=f"LEMUR's wheel is not at {WHEEL}: scripts/setup.sh downloads it"
)


def write_tree(root: Path) -> Path:
    """Four nets in LEMUR's layout: two near-copies (different accuracy), one below the bar, one the check rejects."""
    nets = root / "ab/nn/nn"
    nets.mkdir(parents=True)
    resnet = SEEDS["resnet_basic"]
    (nets / "ResA.py").write_text(resnet)
    (nets / "ResB.py").write_text(resnet.replace("# ", "#  ", 1) + "\n# a copy with a comment\n")
    (nets / "Lenet.py").write_text(SEEDS["lenet"])
    (nets / "Broken.py").write_text(SEEDS["alexnet_style"].replace("def supported_hyperparameters", "def other"))
    (nets / "__init__.py").write_text("")
    for name, accuracies in {"ResA": [0.51, 0.55], "ResB": [0.61], "Lenet": [0.30], "Broken": [0.70]}.items():
        for epoch, value in enumerate(accuracies, start=1):
            folder = root / f"ab/nn/stat/train/img-classification_cifar-10_acc_{name}"
            folder.mkdir(parents=True, exist_ok=True)
            trials = [{"accuracy": value, "batch": 16, "lr": 0.01, "momentum": 0.9, "transform": "norm_256_flip"}]
            (folder / f"{epoch}.json").write_text(json.dumps(trials))
    svhn = root / "ab/nn/stat/train/img-classification_svhn_acc_Lenet"
    svhn.mkdir(parents=True)
    (svhn / "1.json").write_text(json.dumps([{"accuracy": 0.99}]))  # another data set: ignored
    return root


def test_a_tree_keeps_accurate_contract_conforming_nets_once_each(tmp_path: Path):
    root = write_tree(tmp_path / "nn-dataset")
    settings = CorpusSettings(lemur=str(root), min_accuracy=40.0)
    lemur = build_lemur_set(settings, tmp_path / "cache")
    # ResB (61%) and ResA (55%) are near-duplicates: the more accurate one stays; Lenet is under the bar.
    assert [(net.key, net.accuracy) for net in lemur.nets] == [("lemur:ResB", 61.0)]
    report = lemur.report
    assert (report.scanned, report.with_accuracy, report.accurate, report.contract_ok, report.kept) == (4, 4, 3, 2, 1)
    assert report.rejected_by_kind == {"missing_supported_hyperparameters": 1}
    assert not report.cached
    again = build_lemur_set(settings, tmp_path / "cache")
    assert again.report.cached and again.nets == lemur.nets
    undeduplicated = build_lemur_set(CorpusSettings(lemur=str(root / "ab"), min_accuracy=25.0, dedup=False))
    assert [net.key for net in undeduplicated.nets] == ["lemur:ResB", "lemur:ResA", "lemur:Lenet"]


def test_a_location_without_lemur_is_a_clear_error(tmp_path: Path):
    with pytest.raises(LemurLayoutError, match="pip download nn-dataset==2.1.2"):
        build_lemur_set(CorpusSettings(lemur=str(tmp_path)))
    (tmp_path / "not.whl").write_text("no zip")
    with pytest.raises(LemurLayoutError, match="not a LEMUR wheel"):
        build_lemur_set(CorpusSettings(lemur=str(tmp_path / "not.whl")))


def test_the_old_novelty_key_points_to_the_corpus_section():
    with pytest.raises(ConfigError, match=r"\[corpus\] lemur"):
        config_from_dict({"novelty": {"lemur_corpus": "/somewhere"}})
    assert config_from_dict({"novelty": {"lemur_corpus": None}}).corpus.lemur == "none"  # stored by older runs


@needs_wheel
def test_the_real_wheel_gives_the_papers_starting_set():
    lemur = build_lemur_set(CorpusSettings(lemur=str(WHEEL), min_accuracy=40.0), Path(DEFAULT_CACHE_DIR).expanduser())
    report = lemur.report
    assert report.scanned == 10_482  # every ab/nn/nn/*.py but __init__.py
    assert report.accurate > report.contract_ok > report.kept > 1_000
    assert all(net.accuracy >= 40.0 and net.key.startswith("lemur:") for net in lemur.nets)
    assert lemur.nets[0].accuracy == max(net.accuracy for net in lemur.nets)


@needs_wheel
def test_a_paper_run_starts_from_lemur_and_its_first_cycle_row_counts_the_pairs(tmp_path: Path):
    preset = load_config(preset="paper")
    assert preset.corpus.lemur == LEMUR_WHEEL
    config = config_from_dict(
        {
            **preset.to_dict(),
            "run": {"name": "lemur", "cycles": 1, "candidates_per_cycle": 4, "cache_dir": str(DEFAULT_CACHE_DIR)},
            "model": {"id": "demo", "quantization": "none", "device": "cpu"},
            "corpus": {**preset.to_dict()["corpus"], "max_pairs": 7},
        },
        preset="paper",
    )
    stages = ScriptedStages(tmp_path / "s.json")
    store = open_run(tmp_path / "run", config)
    assert RunLoop(store, config, stages).run() == "completed"
    ((_, pairs, _),) = stages.finetune_calls
    selected = sum(1 for c in store.candidates(1) if c.selected)
    assert pairs == 1 + 7 + selected  # ScriptedStages' one seed, 7 LEMUR nets, this cycle's selection
    cycle = store.cycle(1)
    assert cycle is not None and cycle.stats is not None and cycle.stats["totalTrainPrompts"] == pairs
