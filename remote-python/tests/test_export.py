"""`archloop export` writes LEMUR's layout (nets and their training statistics): export -> import round-trips."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import scripted_stages
from scripted_stages import ScriptedStages

from archloop.config import config_from_dict
from archloop.corpus.lemur import KEY_PREFIX, build_lemur_set
from archloop.corpus.seeds import load_seed_corpus
from archloop.corpus.settings import CorpusSettings
from archloop.run.export import export_run, lemur_name, lemur_trial, lemur_uid
from archloop.run.loop import RunLoop, open_run

SEEDS = [seed.code for seed in load_seed_corpus()]
ALEXNET = next(seed.code for seed in load_seed_corpus() if seed.name == "alexnet_style")


class MeasuredStages(ScriptedStages):
    """Scripted stages that say what each accuracy was measured on, as the real ones do: every second candidate
    on synthetic data."""

    def evaluate(self, jobs, should_stop):
        for position, result in enumerate(super().evaluate(jobs, should_stop)):
            data = "synthetic" if position % 2 else "cifar10"
            yield dataclasses.replace(result, data=data, protocol="fast", epochs=1)


def finished_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stages=ScriptedStages, **sections) -> Path:
    """Two scripted cycles whose candidates are real nets (seed nets, each made distinct): LEMUR's import checks
    the contract, so the scripted stand-in code would not get through."""
    monkeypatch.setattr(
        scripted_stages, "scripted_code", lambda serial: f"{SEEDS[serial % len(SEEDS)]}\n# variant {serial}\n"
    )
    config = config_from_dict(
        {
            "run": {"name": "x", "cycles": 2, "candidates_per_cycle": 8},
            "generation": {"batch_size": 4},
            "selection": {"min_selected": 2},
            **sections,
        }
    )
    store = open_run(tmp_path / "run_dir", config)
    stages = stages(tmp_path / "scripted.json", invalid_every=0)
    assert RunLoop(store, config, stages).run() == "completed"
    store.close()
    return tmp_path / "run_dir"


def test_export_then_lemur_import_round_trips_names_code_and_accuracies(tmp_path, monkeypatch):
    from archloop.run.store import RunStore

    run_dir = finished_run(tmp_path, monkeypatch)
    with RunStore(run_dir) as store:
        run_id = store.run_id
        exported = store.training_candidates(store.current_cycle())
    assert len(exported) >= 4 and all(c.accuracy is not None for c in exported)
    summary = export_run(run_dir, tmp_path / "out")
    assert (summary.nets, summary.stats) == (len(exported), len(exported))

    imported = build_lemur_set(CorpusSettings(lemur=str(tmp_path / "out"), min_accuracy=0.0, dedup=False))
    assert imported.report.scanned == imported.report.kept == len(exported)
    assert imported.report.stat_problems == 0
    by_key = {net.key: net for net in imported.nets}
    expected = {KEY_PREFIX + lemur_name(run_id, c.id): c for c in exported}
    assert set(by_key) == set(expected)
    for key, candidate in expected.items():
        assert by_key[key].code == candidate.code
        assert by_key[key].accuracy == pytest.approx(candidate.accuracy, abs=1e-9)

    # The trial is what LEMUR's trainer writes: the evaluator's prm (the paper protocol here), a uid, the duration.
    name = lemur_name(run_id, exported[0].id)
    folder = tmp_path / "out/ab/nn/stat/train" / f"img-classification_cifar-10_acc_{name}"
    assert len(folder.name.split("_")) == 4  # LEMUR splits on every "_"
    (trial,) = json.loads((folder / "1.json").read_text())
    assert list(trial) == sorted(trial)
    prm = {k: v for k, v in trial.items() if k not in ("accuracy", "duration", "uid")}
    assert prm["transform"] == "norm_256_flip" and prm["batch"] == 16
    assert (prm["lr"], prm["momentum"], prm["dropout"]) == (0.01, 0.9, 0.2)
    assert trial["uid"] == lemur_uid(prm) and trial["accuracy"] == exported[0].accuracy / 100
    assert trial["duration"] == 600_000_000  # the scripted 0.5 s training + 0.1 s test, in nanoseconds


def test_only_accuracies_measured_on_cifar10_become_lemur_statistics(tmp_path, monkeypatch):
    from archloop.run.store import RunStore

    run_dir = finished_run(tmp_path, monkeypatch, stages=MeasuredStages)
    with RunStore(run_dir) as store:
        run_id = store.run_id
        exported = store.training_candidates(store.current_cycle())
        on = {e.data["candidate"]: e.data["data"] for e in store.events_since(0, 10_000) if "data" in e.data}
    assert {on[c.id] for c in exported} == {"synthetic", "cifar10"}
    summary = export_run(run_dir, tmp_path / "out")
    imported = build_lemur_set(CorpusSettings(lemur=str(tmp_path / "out"), min_accuracy=0.0, dedup=False))
    cifar10 = {KEY_PREFIX + lemur_name(run_id, c.id) for c in exported if on[c.id] == "cifar10"}
    assert {net.key for net in imported.nets} == cifar10 and summary.stats == len(cifar10) < summary.nets
    (trial,) = json.loads(next((tmp_path / "out/ab/nn/stat/train").glob("*/1.json")).read_text())
    assert trial["transform"] == "norm_32_flip" and trial["batch"] == 128  # the protocol the event names: fast


def test_a_run_configured_for_synthetic_data_exports_its_nets_without_statistics(tmp_path, monkeypatch):
    run_dir = finished_run(tmp_path, monkeypatch, evaluation={"data": "synthetic"})
    summary = export_run(run_dir, tmp_path / "out")
    assert summary.nets >= 4 and summary.stats == 0
    assert not (tmp_path / "out/ab/nn/stat").exists()


def test_the_trial_follows_the_runs_protocol_and_the_nets_declared_hyperparameters():
    code = ALEXNET.replace('return {"lr", "momentum", "dropout"}', 'return {"lr", "momentum", "weight_decay"}')
    assert "weight_decay" in code
    trial = lemur_trial(code, 52.5, None, {"protocol": "fast", "batch_size": 32})
    assert trial["transform"] == "norm_32_flip" and trial["batch"] == 32 and trial["accuracy"] == 0.525
    assert trial["weight_decay"] == 0.0 and trial["dropout"] == 0.2  # declared; dropout the evaluator always passes
    assert "duration" not in trial and "epoch" not in trial


def test_export_names_have_no_underscore_for_lemurs_config_split():
    assert lemur_name("my_run.2", "c1-0003") == "ArchLoop-my-run-2-c1-0003"
