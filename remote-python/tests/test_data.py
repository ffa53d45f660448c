"""CIFAR-10 decoding from the real archive format, the .npy cache, synthetic data and on-device batch transforms."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from archloop.evaluation.data import (
    CIFAR_FOLDER,
    CIFAR_MEAN,
    CIFAR_STD,
    BatchTransform,
    DataError,
    cache_cifar10,
    cache_synthetic,
    decode_cifar10,
    flip_half,
    iterate_batches,
    synthetic_arrays,
)

torch.set_num_threads(1)


def _batches(per_batch: int = 6, test: int = 5) -> dict[str, tuple[np.ndarray, list[int]]]:
    rng = np.random.default_rng(7)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {
        n: (
            rng.integers(0, 256, size=(test if n == "test_batch" else per_batch, 3072), dtype=np.uint8),
            [int(v) for v in rng.integers(0, 10, size=test if n == "test_batch" else per_batch)],
        )
        for n in names
    }


def write_cifar_folder(root: Path, batches: dict[str, tuple[np.ndarray, list[int]]]) -> Path:
    """The extracted `cifar-10-batches-py/` folder, pickled exactly like the real one (bytes keys)."""
    folder = root / CIFAR_FOLDER
    folder.mkdir(parents=True)
    for name, (data, labels) in batches.items():
        with open(folder / name, "wb") as handle:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": []}, handle)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane"] * 10}))
    return folder


def write_cifar_archive(root: Path, batches: dict[str, tuple[np.ndarray, list[int]]]) -> Path:
    folder = write_cifar_folder(root / f"staging-{len(list(root.glob('staging-*')))}", batches)
    archive = root / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=CIFAR_FOLDER)
    return archive


def test_archive_decodes_to_nchw_uint8_with_channel_planes_in_order(tmp_path):
    batches = _batches()
    archive = write_cifar_archive(tmp_path, batches)
    train_x, train_y, test_x, test_y = decode_cifar10(archive)
    assert train_x.shape == (30, 3, 32, 32) and train_x.dtype == np.uint8
    assert test_x.shape == (5, 3, 32, 32) and test_y.dtype == np.int64
    raw, labels = batches["data_batch_2"]
    # Row layout of the archive: 1024 red, then 1024 green, then 1024 blue values, row-major.
    assert train_x[6, 0, 0, 0] == raw[0, 0] and train_x[6, 1, 0, 0] == raw[0, 1024]
    assert train_x[6, 2, 31, 31] == raw[0, 3071] and train_x[6, 0, 1, 0] == raw[0, 32]
    assert list(train_y[6:12]) == labels
    assert list(test_y) == batches["test_batch"][1]


def test_extracted_folder_gives_the_same_arrays_as_the_archive(tmp_path):
    batches = _batches()
    from_archive = decode_cifar10(write_cifar_archive(tmp_path / "a", batches))
    from_folder = decode_cifar10(write_cifar_folder(tmp_path / "b", batches))
    from_parent = decode_cifar10(tmp_path / "b")  # the folder that holds cifar-10-batches-py/
    for a, b, c in zip(from_archive, from_folder, from_parent, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_cache_is_written_once_and_memory_mapped(tmp_path):
    archive = write_cifar_archive(tmp_path, _batches())
    files = cache_cifar10(archive, tmp_path / "cache")
    first_mtime = files.train_images.stat().st_mtime_ns
    again = cache_cifar10(archive, tmp_path / "cache")
    assert again.train_images.stat().st_mtime_ns == first_mtime  # reused, not re-decoded
    train = again.load_train()
    assert isinstance(train.images, torch.Tensor) and train.images.shape == (30, 3, 32, 32)
    assert np.load(files.test_labels).shape == (5,)
    # Replacing the archive (new mtime/size) invalidates the cache.
    archive.unlink()
    write_cifar_archive(tmp_path, _batches(per_batch=4))
    os.utime(archive, ns=(first_mtime + 10**9, first_mtime + 10**9))
    assert len(cache_cifar10(archive, tmp_path / "cache").load_train()) == 20


def test_missing_batch_is_a_data_error_naming_it(tmp_path):
    batches = _batches()
    folder = write_cifar_folder(tmp_path, batches)
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match="test_batch"):
        decode_cifar10(folder)
    with pytest.raises(DataError, match="no such file"):
        cache_cifar10(tmp_path / "nowhere.tar.gz", tmp_path / "cache")


def test_wrong_shapes_and_garbage_are_data_errors(tmp_path):
    batches = _batches()
    batches["data_batch_3"] = (np.zeros((4, 100), dtype=np.uint8), [0, 1, 2, 3])
    with pytest.raises(DataError, match=r"data_batch_3.*\(N, 3072\)"):
        decode_cifar10(write_cifar_folder(tmp_path / "a", batches))
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tar at all")
    with pytest.raises(DataError, match="not a readable tar"):
        decode_cifar10(bad)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{CIFAR_FOLDER}/test_batch")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"xyz"))
    partial = tmp_path / "partial.tar.gz"
    partial.write_bytes(buffer.getvalue())
    with pytest.raises(DataError, match="lacks data_batch_1"):
        decode_cifar10(partial)


def test_synthetic_data_is_seeded_and_learnable():
    a = synthetic_arrays(600, 300, seed=3)
    b = synthetic_arrays(600, 300, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    train_x, train_y, test_x, test_y = a
    assert train_x.shape == (600, 3, 32, 32) and train_x.dtype == np.uint8 and set(np.unique(train_y)) <= set(range(10))
    # A nearest-class-mean colour classifier far above chance: the signal is there to be learned.
    means = np.stack([train_x[train_y == c].mean(axis=(0, 2, 3)) for c in range(10)])
    colours = test_x.mean(axis=(2, 3))
    guesses = np.argmin(((colours[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (guesses == test_y).mean() > 0.5
    assert not np.array_equal(synthetic_arrays(10, 10, seed=4)[0], synthetic_arrays(10, 10, seed=3)[0])


def test_synthetic_cache_rejects_empty_splits(tmp_path):
    with pytest.raises(DataError):
        cache_synthetic(tmp_path, 0, 10)
    files = cache_synthetic(tmp_path, 20, 10, seed=1)
    assert cache_synthetic(tmp_path, 20, 10, seed=1) == files


def test_transform_resizes_to_256_and_normalises_with_the_paper_constants():
    images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    for c, m in enumerate(CIFAR_MEAN):
        images[:, c] = round(m * 255)
    out = BatchTransform(size=256, flip=False)(images)
    assert out.shape == (2, 3, 256, 256) and out.dtype == torch.float32
    assert out.abs().max() < 0.01  # the mean colour normalises to ~0
    white = BatchTransform(size=32)(torch.full((1, 3, 32, 32), 255, dtype=torch.uint8))
    assert torch.allclose(
        white[0, :, 0, 0], torch.tensor([(1 - m) / s for m, s in zip(CIFAR_MEAN, CIFAR_STD, strict=True)])
    )


def test_flip_before_resize_equals_the_papers_resize_then_flip():
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    ours = BatchTransform(size=256, flip=True)(images, torch.Generator().manual_seed(5))
    mask = torch.rand(8, generator=torch.Generator().manual_seed(5)) < 0.5
    big = F.interpolate(images.float() / 255, size=(256, 256), mode="bilinear", align_corners=False)
    big = torch.where(mask[:, None, None, None], big.flip(3), big)
    mean = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    assert 0 < int(mask.sum()) < 8
    assert torch.allclose(ours, (big - mean) / std, atol=1e-5)


def test_batches_cover_every_image_once_in_a_seeded_order():
    train = synthetic_arrays(37, 1, seed=0)
    from archloop.evaluation.data import ImageSplit

    split = ImageSplit(torch.from_numpy(train[0]), torch.from_numpy(train[1]))
    seen = []
    for x, y in iterate_batches(split, 16, BatchTransform(), torch.device("cpu"), torch.Generator().manual_seed(1)):
        assert x.shape[1:] == (3, 32, 32) and x.shape[0] == y.shape[0]
        seen.append(y)
    assert [len(y) for y in seen] == [16, 16, 5]
    assert sorted(torch.cat(seen).tolist()) == sorted(train[1].tolist())
    again = [
        y
        for _, y in iterate_batches(split, 16, BatchTransform(), torch.device("cpu"), torch.Generator().manual_seed(1))
    ]
    assert all(torch.equal(a, b) for a, b in zip(seen, again, strict=True))


def test_flip_half_is_decided_per_image_by_the_seed():
    images = np.random.default_rng(0).integers(0, 256, (50, 3, 32, 32), dtype=np.uint8)
    a = flip_half(images, 9)
    assert np.array_equal(a, flip_half(images, 9))
    flipped = [i for i in range(50) if not np.array_equal(a[i], images[i])]
    assert 10 < len(flipped) < 40
    assert all(np.array_equal(a[i], images[i][..., ::-1]) for i in flipped)
