"""A procedural family of small CIFAR-10 nets in the contract, for pre-training the embedded demo's model.

The demo model (~1M parameters, minutes of CPU) cannot learn PyTorch from 16 seed nets alone: it wrote syntax errors.
So it is also pre-trained on nets drawn from a small block grammar, all in one regular style: four helper blocks
(`conv_bn`, `Residual`, `SepConv`, `SqueezeExcite`), then a `Net` whose `__init__` appends blocks to `layers` while
`c` tracks the channel count and `w` names the next width (`w = 64`, `conv_bn(c, w)`, `c = w`: no number is ever
copied). Any sequence of blocks written that way is shape-consistent, so a small model that has learned the style
writes nets that build and train, and new block sequences often enough to pass the novelty filter.
This family is the demo model's pre-training data only; the run's novelty corpus is still the seed corpus.

`sample_family_net(rng)` returns one net's source; `family_corpus(count, seed)` returns `count` distinct ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from string import Template

HEADER = Template("""import torch
import torch.nn as nn
import torch.nn.functional as F


def supported_hyperparameters():
    return {"lr", "momentum"}


def conv_bn(cin, cout, k=3, stride=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        ${act_module},
    )


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = ${residual_body}

    def forward(self, x):
        return ${act_function}(x + self.body(x))


class SepConv(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.depthwise = conv_bn(cin, cin, 3, stride=stride, groups=cin)
        self.pointwise = conv_bn(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class SqueezeExcite(nn.Module):
    def __init__(self, c, r=${se_ratio}):
        super().__init__()
        self.fc1 = nn.Conv2d(c, max(8, c // r), 1)
        self.fc2 = nn.Conv2d(max(8, c // r), c, 1)

    def forward(self, x):
        w = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(w))))


class Net(nn.Module):
    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        layers = []
        c = in_shape[1]
""")

FOOTER = Template("""        self.features = nn.Sequential(*layers)
        self.classifier = ${head}

    def forward(self, x):
        return self.classifier(self.features(x))

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = ${criterion}.to(self.device)
        self.optimizer = ${optimizer}

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria(self(inputs), labels)
            loss.backward()
${clip}            self.optimizer.step()
""")

# Per-net choices of the fixed parts, so two nets of the family share less text than their common skeleton: with one
# fixed text, every pair scored MinHash-Jaccard >= 0.95 and the novelty filter could not tell them apart.
_STYLES: dict[str, tuple[str, ...]] = {
    "activation": ("relu", "silu", "gelu"),
    "residual_body": (
        "nn.Sequential(conv_bn(c, c), nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))",
        "nn.Sequential(conv_bn(c, c, 1), nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c))",
    ),
    "se_ratio": ("4", "8"),
    "head": (
        "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, out_shape[0]))",
        "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(c, out_shape[0]))",
        "nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c, out_shape[0]))",
    ),
    "criterion": ("nn.CrossEntropyLoss()", "nn.CrossEntropyLoss(label_smoothing=0.1)"),
    "optimizer": (
        'torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])',
        'torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"], nesterov=True)',
        'torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"], weight_decay=5e-4)',
    ),
    "clip": ("", "3", "1"),
}
_ACTIVATIONS = {
    "relu": ("nn.ReLU(inplace=True)", "F.relu"),
    "silu": ("nn.SiLU(inplace=True)", "F.silu"),
    "gelu": ("nn.GELU()", "F.gelu"),
}
_INDENT = " " * 8


def _fixed_parts(rng: random.Random) -> tuple[str, str]:
    """The header (helpers and the start of `__init__`) and the footer (head, forward, training), styled at random."""
    style = {key: rng.choice(options) for key, options in _STYLES.items()}
    act_module, act_function = _ACTIVATIONS[style.pop("activation")]
    clip = style.pop("clip")
    header = HEADER.substitute(act_module=act_module, act_function=act_function, **style)
    clip_line = f"            nn.utils.clip_grad_norm_(self.parameters(), {clip})\n" if clip else ""
    return header, FOOTER.substitute(clip=clip_line, **style)


_MAX_PARAMS = 300_000


@dataclass
class _Shape:
    channels: int | None = None  # None: still the input's (`in_shape[1]`)
    size: int = 32
    params: int = 0
    width: int | None = None  # the value of `w` in the generated code


def _set_width(width: int, shape: _Shape) -> list[str]:
    """`w = N` when the width changes: blocks then write `w`, and `c = w` after them, so no number is ever copied."""
    if shape.width == width:
        return []
    shape.width = width
    return [f"w = {width}"]


def _conv_params(cin: int, cout: int, k: int, groups: int = 1) -> int:
    return cin // groups * cout * k * k + 2 * cout


def _lines_for_block(kind: str, width: int, shape: _Shape, rng: random.Random) -> list[str] | None:
    """Source lines appending one block, updating `shape`; None when the block does not fit here."""
    cin = shape.channels or 3
    if kind == "conv":
        k = rng.choice((1, 3, 3, 5))
        stride = 2 if shape.size > 4 and rng.random() < 0.25 else 1
        shape.params += _conv_params(cin, width, k)
        shape.size //= stride
        shape.channels = width
        args = f"c, w, {k}" + (", stride=2" if stride == 2 else "")
        return [*_set_width(width, shape), f"layers.append(conv_bn({args}))", "c = w"]
    if kind == "sep":
        stride = 2 if shape.size > 4 and rng.random() < 0.3 else 1
        shape.params += _conv_params(cin, cin, 3, cin) + _conv_params(cin, width, 1)
        shape.size //= stride
        shape.channels = width
        args = "c, w" + (", stride=2" if stride == 2 else "")
        return [*_set_width(width, shape), f"layers.append(SepConv({args}))", "c = w"]
    if kind == "res":
        if shape.channels is None:
            return None
        shape.params += 2 * _conv_params(cin, cin, 3)
        return ["layers.append(Residual(c))"]
    if kind == "se":
        if shape.channels is None:
            return None
        hidden = max(8, cin // 4)
        shape.params += 2 * cin * hidden + cin + hidden
        return ["layers.append(SqueezeExcite(c))"]
    if kind in ("maxpool", "avgpool"):
        if shape.size <= 4 or shape.channels is None:
            return None
        shape.size //= 2
        return ["layers.append(nn.MaxPool2d(2))" if kind == "maxpool" else "layers.append(nn.AvgPool2d(2))"]
    if kind == "dropout":
        if shape.channels is None:
            return None
        return [f"layers.append(nn.Dropout({rng.choice((0.1, 0.2))}))"]
    raise ValueError(f"unknown block kind {kind!r}")


def sample_family_net(rng: random.Random) -> str:
    """One net of the family: a stem, 2-4 stages (optional pooling, a block that sets the stage's width, 0-2 more
    blocks), the shared head. Redrawn until its parameter estimate is within the contract's 300,000."""
    header, footer = _fixed_parts(rng)
    while True:
        shape = _Shape()
        width = rng.choice((16, 24, 32))
        lines = _lines_for_block(rng.choice(("conv", "conv", "sep")), width, shape, rng) or []
        for _ in range(rng.randint(2, 4)):
            width = min(160, max(16, width * rng.choice((1, 2, 2)) // 8 * 8))
            if rng.random() < 0.6:
                lines += _lines_for_block(rng.choice(("maxpool", "avgpool")), width, shape, rng) or []
            lines += _lines_for_block(rng.choice(("conv", "sep")), width, shape, rng) or []
            for _ in range(rng.randint(0, 2)):
                lines += (
                    _lines_for_block(rng.choice(("conv", "sep", "res", "res", "se", "dropout")), width, shape, rng)
                    or []
                )
        shape.params += (shape.channels or 3) * 10 + 10
        if shape.params <= _MAX_PARAMS:
            return header + "".join(f"{_INDENT}{line}\n" for line in lines) + footer


def family_corpus(count: int, seed: int = 0) -> list[str]:
    """`count` distinct family nets, reproducible from `seed`."""
    rng = random.Random(seed)
    nets: dict[str, None] = {}
    for _ in range(count * 20):
        if len(nets) >= count:
            break
        nets.setdefault(sample_family_net(rng), None)
    return list(nets)
