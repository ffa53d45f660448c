"""The LEMUR importer, on small trees in nn-dataset's real layout that each test writes."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from archloop.corpus.lemur import ImportReport, LemurLayoutError, find_lemur_root, iter_lemur, read_accuracies
from archloop.corpus.seeds import load_seed_corpus
from archloop.novelty.minhash import MinHashIndex

SEEDS = {seed.name: seed.code for seed in load_seed_corpus()}


def trial(accuracy: object) -> dict[str, object]:
    # The fields of a real LEMUR trial record (ab/nn/stat/.../<epoch>.json).
    return {
        "accuracy": accuracy,
        "batch": 16,
        "dropout": 0.2,
        "duration": 62378821936,
        "lr": 0.01,
        "momentum": 0.9,
        "transform": "norm_256_flip",
        "uid": "096b8b9ec1ab89323e203150343f378c",
    }


def write_lemur_tree(root: Path, stat_subdir: str = "ab/nn/stat/train") -> Path:
    nets = root / "ab/nn/nn"
    nets.mkdir(parents=True)
    (nets / "__init__.py").write_text("")
    (nets / "ResNetSmall.py").write_text(SEEDS["resnet_basic"])
    (nets / "VGGish.py").write_text(SEEDS["vgg_style"])
    (nets / "ListHyper.py").write_text(SEEDS["lenet"].replace('return {"lr", "momentum"}', "return ['lr', 'momentum']"))
    (nets / "Broken.py").write_text(SEEDS["lenet"].replace("def forward(self, x):", "def forward(self, x:"))
    (nets / "Latin1.py").write_bytes(SEEDS["lenet"].encode() + b"\n# caf\xe9\n")
    (nets / "PatchNet.py").write_text(
        SEEDS["lenet"]
        .replace('return {"lr", "momentum"}', 'return {"lr", "momentum", "patch"}')
        .replace("self.device = device", "self.device = device\n        self.patch = prm['patch']")
    )
    stats = root / stat_subdir
    write_stat(stats / "img-classification_cifar-10_acc_ResNetSmall", {1: [trial(0.41), trial(0.47)], 2: [trial(0.55)]})
    (stats / "img-classification_cifar-10_acc_ResNetSmall/1_backup.json").write_text("[]")
    write_stat(stats / "img-classification_cifar-100_acc_ResNetSmall", {1: [trial(0.99)]})
    write_stat(stats / "img-classification_cifar-10_acc_VGGish", {1: [trial(0.38), {"batch": 4}, trial(True)]})
    write_stat(stats / "img-captioning_coco_bleu,meteor,cider_Captioner", {1: [trial(0.2)]})
    write_stat(stats / "RESULTS_RLFN", {1: [trial(0.1)]})
    bad = stats / "img-classification_cifar-10_acc_Broken"
    bad.mkdir(parents=True)
    (bad / "1.json").write_text("[{not json")
    (bad / "2.json").write_text('{"accuracy": 0.5}')
    return root


def write_stat(config_dir: Path, epochs: dict[int, list[object]]) -> None:
    config_dir.mkdir(parents=True)
    for epoch, trials in epochs.items():
        (config_dir / f"{epoch}.json").write_text(json.dumps(trials, indent=4))


def test_imports_conforming_nets_with_their_cifar10_accuracy_and_reports_the_rest(tmp_path: Path):
    root = write_lemur_tree(tmp_path / "nn-dataset")
    report = ImportReport()
    entries = {entry.key: entry for entry in iter_lemur(root, report)}

    assert sorted(entries) == ["lemur:PatchNet", "lemur:ResNetSmall", "lemur:VGGish"]
    resnet = entries["lemur:ResNetSmall"]
    assert resnet.code == SEEDS["resnet_basic"]
    assert resnet.source == "ab/nn/nn/ResNetSmall.py"
    assert resnet.accuracy_by_epoch == {1: 0.47, 2: 0.55}  # best trial per epoch; cifar-100 and the backup ignored
    assert entries["lemur:VGGish"].accuracy_by_epoch == {1: 0.38}
    assert entries["lemur:PatchNet"].accuracy_by_epoch is None

    assert report.root == root
    assert report.scanned == 6 and report.imported == 3
    assert {rejection.name: rejection.kind for rejection in report.rejected} == {
        "Broken": "syntax",
        "Latin1": "unreadable",
        "ListHyper": "not_a_set",
    }
    assert report.rejected_by_kind() == {"syntax": 1, "unreadable": 1, "not_a_set": 1}
    problems = "\n".join(report.stat_problems)
    assert "RESULTS_RLFN" in problems
    assert "Broken/1.json: unreadable" in problems
    assert "Broken/2.json: expected a list" in problems
    assert "VGGish/1.json: 2 trial(s) without a numeric accuracy" in problems
    assert report.summary().startswith("6 nets scanned: 3 imported, 3 rejected (")


def test_strict_hyperparameters_and_required_statistics_narrow_the_corpus(tmp_path: Path):
    root = write_lemur_tree(tmp_path / "nn-dataset")
    report = ImportReport()
    strict = [entry.key for entry in iter_lemur(root, report, strict_hyperparameters=True)]
    assert "lemur:PatchNet" not in strict
    assert any(r.name == "PatchNet" and r.kind == "unknown_hyperparameter" for r in report.rejected)

    with_stats = [entry.key for entry in iter_lemur(root, require_statistics=True)]
    assert with_stats == ["lemur:ResNetSmall", "lemur:VGGish"]


def test_reads_the_older_stat_layout_too(tmp_path: Path):
    root = write_lemur_tree(tmp_path / "old", stat_subdir="ab/nn/stat")
    accuracies = read_accuracies(root, "img-classification", "cifar-10", "acc")
    assert accuracies == {"ResNetSmall": {1: 0.47, 2: 0.55}, "VGGish": {1: 0.38}}
    captioning = read_accuracies(root, "img-captioning", "coco", "bleu")
    assert captioning == {"Captioner": {1: 0.2}}


def test_root_is_found_from_the_checkout_the_ab_package_or_an_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root = write_lemur_tree(tmp_path / "site")
    assert find_lemur_root(root) == root
    assert find_lemur_root(root / "ab") == root
    # An installed nn-dataset is found through the import system (here: a namespace package on sys.path).
    monkeypatch.setattr(sys, "path", [str(root), *sys.path])
    monkeypatch.delitem(sys.modules, "ab", raising=False)
    importlib.invalidate_caches()
    assert find_lemur_root() == root
    assert len(list(iter_lemur())) == 3


def test_a_location_without_a_lemur_tree_is_a_clear_error(tmp_path: Path):
    (tmp_path / "ab/nn").mkdir(parents=True)
    with pytest.raises(LemurLayoutError, match="ab/nn/nn"):
        list(iter_lemur(tmp_path))
    with pytest.raises(LemurLayoutError):
        find_lemur_root(tmp_path / "missing")


def test_imported_entries_feed_the_novelty_index(tmp_path: Path):
    root = write_lemur_tree(tmp_path / "nn-dataset")
    index = MinHashIndex()
    index.add_many((entry.key, entry.code) for entry in iter_lemur(root))
    assert index.query(SEEDS["resnet_basic"]).nearest == "lemur:ResNetSmall"
    assert index.query(SEEDS["densenet"]).novel is True
