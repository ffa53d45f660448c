"""CIFAR-10 data: where it lies on a host, how it is decoded and cached, and the per-batch transforms on the device.

The archive (the standard python version: `cifar-10-python.tar.gz` or its extracted `cifar-10-batches-py/`) holds
pickled dicts with b'data' (N, 3072) uint8 and b'labels'. It is decoded ONCE into uint8 .npy files in a cache folder;
every sandboxed worker then memory-maps those files instead of unpickling 180 MB again (see `DatasetFiles`).
Transforms run on whole batches with torch ops on the training device (no per-image CPU pipeline): flip, bilinear
resize, normalise. A synthetic data set of the same shapes, with a learnable class signal, stands in where CIFAR-10
cannot be downloaded (tests, benchmarks, GPU checks without the data).

Failure: every problem with the input (missing file, wrong layout, wrong shapes) raises `DataError` naming the path.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tarfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)
# The paper's Normalize (LEMUR's norm_256_flip).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


class DataError(Exception):
    """A data source is missing or not in the expected format; the message names the path and what was wrong."""


@dataclass(frozen=True)
class ImageSplit:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64, as torch tensors (possibly memory-mapped, read-only)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class DatasetFiles:
    """The decoded data set as .npy files that worker processes memory-map. `name` says where it came from."""

    name: str
    train_images: Path
    train_labels: Path
    test_images: Path
    test_labels: Path

    def load_train(self) -> ImageSplit:
        return ImageSplit(_map_npy(self.train_images), _map_npy(self.train_labels))

    def load_test(self) -> ImageSplit:
        return ImageSplit(_map_npy(self.test_images), _map_npy(self.test_labels))


def cifar10_candidates(extra: list[Path] | None = None) -> list[Path]:
    """Places to look for CIFAR-10, most specific first: $ARCHLOOP_CIFAR10, then the usual data folders."""
    roots: list[Path] = list(extra or [])
    if env := os.environ.get("ARCHLOOP_CIFAR10"):
        roots.append(Path(env))
    home = Path.home()
    roots += [home / ".cache" / "archloop", home / "data", home / ".torch" / "datasets", Path("/data"), Path("data")]
    found: list[Path] = []
    for root in roots:
        if root.name in (CIFAR_FOLDER, CIFAR_ARCHIVE):
            found.append(root)
        else:
            found += [root / CIFAR_FOLDER, root / "cifar10" / CIFAR_FOLDER, root / CIFAR_ARCHIVE]
    return found


# --- decoding the archive ------------------------------------------------------------------------------------------


def _decode_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        # The archive is a trusted, user-supplied data file (never candidate output); pickle is its format.
        batch = pickle.loads(raw, encoding="bytes")
    except Exception as exc:
        raise DataError(f"{where}: not a CIFAR-10 pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{where}: expected a dict with b'data' and b'labels'")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: b'data' must be uint8 (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise DataError(f"{where}: {labels.shape[0]} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DataError(f"{where}: labels outside 0..{NUM_CLASSES - 1}")
    return data.reshape(-1, *IMAGE_SHAPE), labels


def _read_members(source: Path) -> dict[str, bytes]:
    """The six batch files' bytes, from the .tar.gz archive or the extracted folder."""
    names = (*TRAIN_BATCHES, TEST_BATCH)
    if source.is_dir():
        folder = source if (source / TEST_BATCH).exists() else source / CIFAR_FOLDER
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise DataError(f"{folder}: missing {', '.join(missing)}")
        return {n: (folder / n).read_bytes() for n in names}
    if not source.is_file():
        raise DataError(f"{source}: no such file or folder")
    try:
        with tarfile.open(source, "r:*") as tar:
            by_base = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [n for n in names if n not in by_base]
            if missing:
                raise DataError(f"{source}: archive lacks {', '.join(missing)}")
            out: dict[str, bytes] = {}
            for n in names:
                handle = tar.extractfile(by_base[n])
                if handle is None:
                    raise DataError(f"{source}: cannot read {n}")
                out[n] = handle.read()
            return out
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{source}: not a readable tar archive ({type(exc).__name__}: {exc})") from exc


def decode_cifar10(source: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train images, train labels, test images, test labels (uint8 NCHW, int64) from an archive or folder."""
    raw = _read_members(source)
    train = [_decode_batch(raw[n], f"{source}:{n}") for n in TRAIN_BATCHES]
    test_images, test_labels = _decode_batch(raw[TEST_BATCH], f"{source}:{TEST_BATCH}")
    return (
        np.concatenate([t[0] for t in train]),
        np.concatenate([t[1] for t in train]),
        test_images,
        test_labels,
    )


# --- the .npy cache --------------------------------------------------------------------------------------------------


def _files_in(folder: Path, name: str) -> DatasetFiles:
    return DatasetFiles(
        name=name,
        train_images=folder / "train_images.npy",
        train_labels=folder / "train_labels.npy",
        test_images=folder / "test_images.npy",
        test_labels=folder / "test_labels.npy",
    )


def _save_atomic(path: Path, array: np.ndarray) -> None:
    # Write then rename, so a worker never maps a half-written file and a crash leaves no corrupt cache.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array))
    os.replace(tmp, path)


def _write_cache(folder: Path, name: str, arrays: tuple[np.ndarray, ...], stamp: dict[str, object]) -> DatasetFiles:
    folder.mkdir(parents=True, exist_ok=True)
    files = _files_in(folder, name)
    for path, array in zip(
        (files.train_images, files.train_labels, files.test_images, files.test_labels), arrays, strict=True
    ):
        _save_atomic(path, array)
    (folder / "stamp.json").write_text(json.dumps(stamp))
    return files


def _cache_is_current(folder: Path, stamp: dict[str, object]) -> bool:
    try:
        return json.loads((folder / "stamp.json").read_text()) == stamp and all(
            p.is_file() for p in (folder / f for f in ("train_images.npy", "test_labels.npy"))
        )
    except (OSError, ValueError):
        return False


def cache_cifar10(source: Path, cache_dir: Path) -> DatasetFiles:
    """Decode CIFAR-10 from `source` once into `cache_dir/cifar10/*.npy`; later calls reuse the cache.

    The cache is keyed by the source's path, size and mtime, so replacing the archive re-decodes it.
    Raises DataError when the source is missing or malformed (nothing is written then).
    """
    source = source.resolve()
    stat = source.stat() if source.exists() else None
    if stat is None:
        raise DataError(f"{source}: no such file or folder")
    stamp: dict[str, object] = {"source": str(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    folder = cache_dir / "cifar10"
    if _cache_is_current(folder, stamp):
        return _files_in(folder, f"cifar10:{source}")
    return _write_cache(folder, f"cifar10:{source}", decode_cifar10(source), stamp)


def synthetic_arrays(n_train: int, n_test: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-shaped images with a LEARNABLE class signal, so accuracy above 10% means the net learned something.

    Each class has its own mean colour and an oriented stripe pattern; per-image noise, brightness and a random
    shift make it not trivially separable. A small CNN reaches well above chance in one short epoch.
    """
    rng = np.random.default_rng(seed)
    colours = rng.uniform(60, 196, size=(NUM_CLASSES, 3, 1, 1))
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    angles = np.linspace(0, np.pi, NUM_CLASSES, endpoint=False)
    freqs = 0.25 + 0.15 * (np.arange(NUM_CLASSES) % 3)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, NUM_CLASSES, size=n).astype(np.int64)
        shift = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
        phase = (np.cos(angles[labels])[:, None, None] * xx + np.sin(angles[labels])[:, None, None] * yy) * freqs[
            labels
        ][:, None, None]
        stripes = 40.0 * np.sin(phase + shift)[:, None, :, :]
        brightness = rng.uniform(0.8, 1.2, size=(n, 1, 1, 1))
        noise = rng.normal(0, 30, size=(n, 3, 32, 32))
        images = colours[labels] * brightness + stripes + noise
        return np.clip(images, 0, 255).astype(np.uint8), labels

    train_images, train_labels = make(n_train)
    test_images, test_labels = make(n_test)
    return train_images, train_labels, test_images, test_labels


def cache_synthetic(cache_dir: Path, n_train: int = 2000, n_test: int = 500, seed: int = 0) -> DatasetFiles:
    """The synthetic data set written as the same .npy cache as CIFAR-10 (reused when the parameters match)."""
    if n_train < 1 or n_test < 1:
        raise DataError(f"synthetic data needs at least one image per split, got {n_train}/{n_test}")
    stamp: dict[str, object] = {"synthetic": True, "n_train": n_train, "n_test": n_test, "seed": seed}
    key = hashlib.sha256(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:12]
    folder = cache_dir / f"synthetic-{key}"
    name = f"synthetic:{n_train}/{n_test}/seed{seed}"
    if _cache_is_current(folder, stamp):
        return _files_in(folder, name)
    return _write_cache(folder, name, synthetic_arrays(n_train, n_test, seed), stamp)


def _map_npy(path: Path) -> torch.Tensor:
    """A read-only memory map of an .npy file as a tensor (no copy; pages load on first touch)."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot map ({type(exc).__name__}: {exc})") from exc
    with warnings.catch_warnings():
        # torch warns that the array is not writable; nothing here ever writes to it.
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


# --- per-batch transforms on the device ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchTransform:
    """uint8 (B,3,32,32) on the device -> normalised float (B,3,size,size), optionally randomly flipped.

    The paper's Resize(256) + CenterCrop(256) of a 32 px image is exactly a bilinear resize to 256, and a horizontal
    flip commutes with that resize, so flipping the small image first is the same transform at 1/64 of the cost.
    """

    size: int = 32
    flip: bool = False

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = images.float().div_(255.0)
        if self.flip:
            # The coin flips come from a CPU generator, so a seed gives the same flips on any device.
            mask = torch.rand(x.shape[0], generator=generator) < 0.5
            x = torch.where(mask.to(x.device)[:, None, None, None], x.flip(3), x)
        if self.size != x.shape[-1]:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        mean = torch.tensor(CIFAR_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(CIFAR_STD, device=x.device).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std)


def iterate_batches(
    split: ImageSplit,
    batch_size: int,
    transform: BatchTransform,
    device: torch.device,
    generator: torch.Generator,
    shuffle: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, labels) batches on `device`, in a seeded random order; the last partial batch is kept."""
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        images = split.images[idx].to(device, non_blocking=True)
        labels = split.labels[idx].to(device, non_blocking=True)
        yield transform(images, generator), labels


def flip_half(images: np.ndarray, seed: int) -> np.ndarray:
    """A copy of uint8 NCHW `images` with a seeded random half flipped horizontally (the paper's test-time flip).

    Decided per image from `seed` alone, so the same seed flips the same images whatever order they are later shown in.
    """
    mask = np.random.default_rng(seed).random(images.shape[0]) < 0.5
    out = np.array(images, copy=True)
    out[mask] = out[mask][..., ::-1]
    return out
