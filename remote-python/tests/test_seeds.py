"""The seed corpus: every net meets the contract, fits the budget, runs at 32 and 256 px, and actually learns.

Learning is checked on a tiny synthetic data set made here (CIFAR-10 cannot be downloaded on these machines): the
class is the colour of a centre square on a noisy background, so any working conv net gets well above the 10%
chance level within one or two short epochs, and a net whose gradients do not flow stays at chance.
"""

from __future__ import annotations

import types

import pytest
import torch

from archloop.corpus.seeds import SeedNet, load_seed_corpus
from archloop.evaluation.contract import check_source, hyperparameter_defaults

PARAMETER_LIMIT = 300_000
REQUIRED_FAMILIES = {
    "LeNet",
    "AlexNet",
    "VGG",
    "NiN",
    "AllConv",
    "ResNet-basic",
    "ResNet-bottleneck",
    "PreActResNet",
    "DenseNet",
    "Inception",
    "SqueezeNet",
    "MobileNetV2",
    "ShuffleNet",
    "SE",
    "ConvMixer",
    "DepthwiseSeparable",
}
SEEDS = load_seed_corpus()


def build_net(seed: SeedNet) -> tuple[torch.nn.Module, dict[str, float]]:
    """Execute the seed's source in a fresh module namespace (trusted code: it ships with the package)."""
    module = types.ModuleType(f"seed_{seed.name}")
    exec(compile(seed.code, f"<seed {seed.name}>", "exec"), module.__dict__)
    prm = hyperparameter_defaults(check_source(seed.code).hyperparameters)
    torch.manual_seed(0)
    return module.Net((1, 3, 32, 32), (10,), prm, torch.device("cpu")), prm


def coloured_squares(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` normalised 3x32x32 images whose label is the colour of a 16x16 centre square on uniform noise."""
    # The palette is fixed across splits (only the sampling seed changes), so train and test share the classes.
    palette = torch.rand(10, 3, generator=torch.Generator().manual_seed(123))
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (count,), generator=generator)
    images = torch.rand(count, 3, 32, 32, generator=generator) * 0.5
    images[:, :, 8:24, 8:24] += palette[labels][:, :, None, None]
    return (images - 0.5) / 0.3, labels


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> None:
    # Other engineers share the 2 cores; tiny nets gain nothing from intra-op threads anyway.
    torch.set_num_threads(1)


def test_corpus_has_the_required_families_one_net_each():
    families = [seed.family for seed in SEEDS]
    assert len(SEEDS) >= 16
    assert set(families) >= REQUIRED_FAMILIES
    assert len(families) == len(set(families)), "each family should appear once"
    assert len({seed.name for seed in SEEDS}) == len(SEEDS)


@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_seed_passes_the_static_contract(seed: SeedNet):
    report = check_source(seed.code)
    assert report.ok, report.message
    assert {"lr", "momentum"} <= report.hyperparameters


@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_seed_fits_the_budget_and_runs_at_32_and_256_px(seed: SeedNet):
    net, _ = build_net(seed)
    assert sum(p.numel() for p in net.parameters()) <= PARAMETER_LIMIT
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 32, 32)).shape == (1, 10)
        assert net(torch.randn(1, 3, 256, 256)).shape == (1, 10)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_seed_learns_above_chance_through_its_own_train_setup_and_learn(seed: SeedNet):
    train_images, train_labels = coloured_squares(256, seed=0)
    test_images, test_labels = coloured_squares(256, seed=1)
    net, prm = build_net(seed)
    net.train_setup(prm)
    assert isinstance(net.optimizer, torch.optim.SGD)
    assert isinstance(net.criteria, torch.nn.CrossEntropyLoss)
    accuracy = 0.0
    # Up to 3 short epochs at the paper's batch size 16, stopping once clearly above chance: keeps the file fast.
    for epoch in range(3):
        order = torch.randperm(len(train_labels), generator=torch.Generator().manual_seed(epoch))
        batches = [(train_images[order[i : i + 16]], train_labels[order[i : i + 16]]) for i in range(0, 256, 16)]
        net.learn(batches)
        net.eval()
        with torch.no_grad():
            accuracy = (net(test_images).argmax(1) == test_labels).float().mean().item()
        if accuracy > 0.3:
            break
    assert accuracy > 0.2, f"{seed.name}: held-out accuracy {accuracy:.2f} after training (chance is 0.10)"
