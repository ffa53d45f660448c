"""The reference evaluator, written the way LEMUR (ABrain-One/nn-dataset) does it, for the benchmarks to compare with.

A torch Dataset applies `norm_256_flip` to ONE image at a time on the CPU (torchvision-free equivalent: resize to
256, CenterCrop(256) is then a no-op, random horizontal flip, normalise), a torch DataLoader batches them (batch 16
for `paper`), and the net's own train_setup/learn runs one epoch; test accuracy is measured through the same
per-image transform. Only the data path differs from ArchLoop's evaluator (archloop.evaluation.evaluate), which keeps the
uint8 images in one tensor on the device and transforms whole batches there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

MEAN = torch.tensor((0.4914, 0.4822, 0.4465)).view(3, 1, 1)
STD = torch.tensor((0.2470, 0.2435, 0.2616)).view(3, 1, 1)


class PerImageCifar(Dataset):
    """uint8 (N,3,32,32) images + labels; each item goes through the transform on its own, as a torchvision pipeline."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, size: int, flip: bool) -> None:
        self.images, self.labels, self.size, self.flip = images, labels, size, flip

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.images[index].float().div(255.0)
        if self.size != x.shape[-1]:  # Resize(256); CenterCrop(256) of a 256x256 image changes nothing
            x = F.interpolate(
                x.unsqueeze(0),
                size=(self.size, self.size),
                mode="bilinear",
                align_corners=False,
            )[0]
        if self.flip and torch.rand(()) < 0.5:  # RandomHorizontalFlip
            x = x.flip(2)
        return (x - MEAN) / STD, int(self.labels[index])


@dataclass(frozen=True)
class ReferenceRun:
    accuracy: float
    train_seconds: float
    eval_seconds: float


def reference_evaluate(
    namespace: dict[str, Any],
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    *,
    batch_size: int,
    image_size: int,
    flip_test: bool,
    prm: dict[str, float],
    device: torch.device,
    seed: int,
    num_workers: int = 0,
) -> ReferenceRun:
    """One epoch through the net's own train_setup/learn fed by a DataLoader, then accuracy through another."""
    torch.manual_seed(seed)
    net = namespace["Net"]((1, 3, image_size, image_size), (10,), prm, device)
    pin = device.type == "cuda"
    train_loader = DataLoader(
        PerImageCifar(*train, image_size, True),
        batch_size=batch_size,
        shuffle=True,
        num_workers=num_workers,
        pin_memory=pin,
        persistent_workers=False,
    )
    test_loader = DataLoader(
        PerImageCifar(*test, image_size, flip_test),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin,
    )
    _sync(device)
    started = time.perf_counter()
    net.train_setup(prm)
    net.train()
    net.learn(train_loader)
    _sync(device)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    correct = total = 0
    net.eval()
    with torch.no_grad():
        for x, y in test_loader:
            pred = net(x.to(device, non_blocking=True)).argmax(1).cpu()
            correct += int((pred == y).sum())
            total += int(y.numel())
    _sync(device)
    return ReferenceRun(100.0 * correct / max(total, 1), train_seconds, time.perf_counter() - started)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
