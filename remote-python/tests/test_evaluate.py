"""The evaluation protocols, run in-process through the candidate's own train_setup/learn on synthetic data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from archloop.corpus.seeds import load_seed_corpus
from archloop.evaluation.data import ImageSplit, synthetic_arrays
from archloop.evaluation.evaluate import (
    FAST,
    PAPER,
    PROTOCOLS,
    CandidateFailure,
    accuracy_percent,
    candidate_prm,
    train_and_predict,
)

torch.set_num_threads(1)
CPU = torch.device("cpu")
# The fast protocol with small batches, so a few hundred images give enough SGD steps to learn something.
SMALL_BATCH = replace(FAST, name="small-batch", batch_size=16)


@pytest.fixture(scope="module")
def data() -> tuple[ImageSplit, torch.Tensor, np.ndarray]:
    train_x, train_y, test_x, test_y = synthetic_arrays(800, 200, seed=0)
    return ImageSplit(torch.from_numpy(train_x), torch.from_numpy(train_y)), torch.from_numpy(test_x), test_y


@pytest.fixture(scope="module")
def lenet() -> dict:
    code = next(s.code for s in load_seed_corpus() if s.name == "lenet")
    namespace: dict = {}
    exec(compile(code, "<candidate>", "exec"), namespace)
    return namespace


def _net(forward: str = "return self.body(x)", learn_step: str = "self.optimizer.step()", init: str = "") -> dict:
    code = f"""
import torch
import torch.nn as nn
def supported_hyperparameters():
    return {{"lr", "momentum", "weight_decay"}}
class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.prm_seen = dict(prm)
        self.body = nn.Sequential(nn.Conv2d(in_shape[1], 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, out_shape[0]))
        {init}
    def forward(self, x):
        {forward}
    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])
    def learn(self, train_data):
        for x, y in train_data:
            self.optimizer.zero_grad()
            self.criteria(self(x), y).backward()
            {learn_step}
"""
    namespace: dict = {}
    exec(compile(code, "<candidate>", "exec"), namespace)
    return namespace


def test_protocols_hold_the_papers_settings():
    assert set(PROTOCOLS) == {"paper", "fast"}
    assert (PAPER.epochs, PAPER.lr, PAPER.momentum, PAPER.batch_size, PAPER.dropout) == (1, 0.01, 0.9, 16, 0.2)
    assert PAPER.image_size == 256 and PAPER.flip_train and PAPER.flip_test  # same transform on train and test
    assert FAST.image_size == 32 and FAST.batch_size >= 128 and FAST.prm() == PAPER.prm()


def test_candidate_prm_fills_declared_extras_with_the_papers_defaults():
    assert candidate_prm({"lr", "momentum", "weight_decay", "dropout"}, PAPER) == {
        "lr": 0.01,
        "momentum": 0.9,
        "dropout": 0.2,
        "weight_decay": 0.0,
        # what LEMUR's trainer adds to every prm: the batch size, the transform's name, the epochs
        "batch": 16,
        "transform": "norm_256_flip",
        "epoch": 1,
    }
    assert candidate_prm({"lr", "mystery"}, FAST)["mystery"] == 0.0


def test_the_net_is_built_and_moved_as_lemurs_trainer_does(data, lenet):
    """Net(in_shape=(batch, C, H, W), (classes,), prm, device) positionally, then .to(device) before train_setup."""
    train, test_x, _ = data
    seen: dict[str, object] = {}
    base = lenet["Net"]

    class Recording(base):  # type: ignore[misc, valid-type]
        def __init__(self, shape, classes, params, device):
            seen.update(in_shape=shape, out_shape=classes, prm=dict(params))
            super().__init__(shape, classes, params, device)

        def to(self, *args, **kwargs):
            seen.setdefault("moved_before_setup", "setup" not in seen)
            return super().to(*args, **kwargs)

        def train_setup(self, prm):
            seen["setup"] = True
            super().train_setup(prm)

    train_and_predict({**lenet, "Net": Recording}, train, test_x, SMALL_BATCH, CPU, seed=0)
    assert seen["in_shape"] == (SMALL_BATCH.batch_size, 3, SMALL_BATCH.image_size, SMALL_BATCH.image_size)
    assert seen["out_shape"] == (10,)
    assert seen["moved_before_setup"] is True
    assert {"batch", "transform"} <= set(seen["prm"])  # type: ignore[arg-type]


def test_one_epoch_learns_above_chance_and_reports_measurements(data, lenet):
    train, test_x, test_y = data
    run = train_and_predict(lenet, train, test_x, SMALL_BATCH, CPU, seed=0)
    assert run.predictions.shape == (200,) and run.predictions.dtype == np.int64
    assert accuracy_percent(run.predictions, test_y) > 30.0  # chance is 10%
    assert run.params == sum(p.numel() for p in lenet["Net"]((1, 3, 32, 32), (10,), FAST.prm(), CPU).parameters())
    assert run.train_seconds > 0 and run.eval_seconds > 0 and run.peak_memory_mb > 50
    assert run.images_per_second == pytest.approx(800 / run.train_seconds)


def test_same_seed_same_predictions_other_seed_differs(data):
    train, test_x, _ = data
    small = ImageSplit(train.images[:256], train.labels[:256])
    a = train_and_predict(_net(), small, test_x, SMALL_BATCH, CPU, seed=4)
    b = train_and_predict(_net(), small, test_x, SMALL_BATCH, CPU, seed=4)
    c = train_and_predict(_net(), small, test_x, SMALL_BATCH, CPU, seed=5)
    assert np.array_equal(a.predictions, b.predictions)
    assert not np.array_equal(a.predictions, c.predictions)


def test_paper_protocol_feeds_256px_batches_of_16(data):
    train, test_x, _ = data
    seen: list[tuple[int, ...]] = []
    namespace = _net(forward="self.shapes.append(tuple(x.shape))\n        return self.body(x)", init="self.shapes = []")
    original = namespace["Net"].learn

    def spy(self, batches):
        original(self, batches)
        seen.extend(self.shapes)

    namespace["Net"].learn = spy
    small = ImageSplit(train.images[:40], train.labels[:40])
    run = train_and_predict(namespace, small, test_x[:10], PAPER, CPU, seed=0)
    # First the blank two-image shape probe, then the training batches.
    assert seen[0] == (2, 3, 256, 256) and seen[1] == (16, 3, 256, 256) and seen[-1] == (8, 3, 256, 256)
    assert run.predictions.shape == (10,)


def test_learn_that_never_steps_is_a_contract_error(data):
    train, test_x, _ = data
    with pytest.raises(CandidateFailure) as failure:
        train_and_predict(
            _net(learn_step="pass"), ImageSplit(train.images[:32], train.labels[:32]), test_x, FAST, CPU, 0
        )
    assert failure.value.outcome == "contract_error" and "never trained" in failure.value.message


def test_diverging_loss_is_nan_loss(data):
    train, test_x, _ = data
    namespace = _net(forward="return self.body(x * float('inf'))")
    with pytest.raises(CandidateFailure) as failure:
        train_and_predict(namespace, ImageSplit(train.images[:32], train.labels[:32]), test_x, FAST, CPU, 0)
    assert failure.value.outcome == "nan_loss"


def test_wrong_number_of_logits_is_a_shape_error_before_any_training(data):
    train, test_x, _ = data
    # Seven logits: the loss would fail on a label >= 7 (an IndexError on a CPU, an opaque device-side assert on a
    # GPU). The probe before training names the shape instead, from its two blank images.
    namespace = _net(forward="return self.body(x)[:, :7]")
    with pytest.raises(CandidateFailure) as failure:
        train_and_predict(namespace, ImageSplit(train.images[:32], train.labels[:32]), test_x[:5], FAST, CPU, 0)
    assert failure.value.outcome == "shape_error"
    assert "forward returned (2, 7), expected (2, 10)" in failure.value.message


def test_wrong_number_of_logits_after_training_is_a_shape_error(data):
    train, test_x, _ = data
    namespace = _net(
        forward="return self.body(x)[:, :7] if self.trained else self.body(x)",
        learn_step="self.optimizer.step()\n            self.trained = True",
        init="self.trained = False",
    )
    with pytest.raises(CandidateFailure) as failure:
        train_and_predict(namespace, ImageSplit(train.images[:32], train.labels[:32]), test_x[:5], FAST, CPU, 0)
    assert failure.value.outcome == "shape_error" and "(5, 7)" in failure.value.message


def test_missing_net_class_is_a_contract_error(data):
    train, test_x, _ = data
    with pytest.raises(CandidateFailure, match="no class Net"):
        train_and_predict({"Net": 3}, train, test_x, FAST, CPU, 0)


def test_accuracy_needs_one_prediction_per_label():
    assert accuracy_percent(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 0])) == 50.0
    with pytest.raises(ValueError, match="3 predictions for 4 labels"):
        accuracy_percent(np.array([1, 2, 3]), np.array([1, 2, 3, 4]))
