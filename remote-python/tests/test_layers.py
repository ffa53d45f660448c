"""The layer graph recorded by the validation forward: names, shapes, edges and source lines, checked in the parent."""

from __future__ import annotations

import pytest
import torch
from wire import assert_server_message

from archloop.config import load_config
from archloop.corpus.seeds import load_seed_corpus
from archloop.evaluation.evaluate import FAST
from archloop.evaluation.layers import MAX_LAYERS, MAX_NAME, read_layers, record_layers
from archloop.evaluation.sandbox import SandboxLimits, make_fork_server, validate_candidate
from archloop.run.loop import open_run

SEEDS = {s.name: s.code for s in load_seed_corpus()}


def _net(code: str) -> torch.nn.Module:
    namespace: dict = {}
    exec(compile(code, "<candidate>", "exec"), namespace)
    return namespace["Net"]((1, 3, 32, 32), (10,), FAST.prm(), "cpu").eval()


def _record(code: str) -> tuple[list[dict], bool]:
    with torch.no_grad():
        _, layers, truncated = record_layers(_net(code), torch.randn(1, 3, 32, 32), code)
    return layers, truncated


def _line_of(code: str, text: str) -> int:
    return next(i for i, line in enumerate(code.splitlines(), 1) if text in line)


def test_lenet_graph_has_its_leaf_modules_in_order_with_shapes_params_and_lines():
    code = SEEDS["lenet"]
    layers, truncated = _record(code)
    assert not truncated
    assert [(n["name"], n["type"], n["shape"]) for n in layers] == [
        ("features.0", "Conv2d", [1, 6, 32, 32]),
        ("features.1", "ReLU", [1, 6, 32, 32]),
        ("features.2", "MaxPool2d", [1, 6, 16, 16]),
        ("features.3", "Conv2d", [1, 16, 12, 12]),
        ("features.4", "ReLU", [1, 16, 12, 12]),
        ("features.5", "MaxPool2d", [1, 16, 6, 6]),
        ("pool", "AdaptiveAvgPool2d", [1, 16, 5, 5]),
        ("classifier.0", "Linear", [1, 120]),
        ("classifier.1", "ReLU", [1, 120]),
        ("classifier.2", "Linear", [1, 84]),
        ("classifier.3", "ReLU", [1, 84]),
        ("classifier.4", "Linear", [1, 10]),
    ]
    assert sum(n["params"] for n in layers) == sum(p.numel() for p in _net(code).parameters())
    assert [n["inputs"] for n in layers] == [[]] + [[i] for i in range(11)]
    # Sequential elements point at their own line; a plain attribute at its `self.<name> =` line.
    assert layers[0]["line"] == _line_of(code, "nn.Conv2d(in_shape[1], 6")
    assert layers[3]["line"] == _line_of(code, "nn.Conv2d(6, 16")
    assert layers[6]["line"] == _line_of(code, "self.pool =")


def test_residual_blocks_get_lines_in_their_own_class_and_a_skip_edge():
    code = SEEDS["resnet_basic"]
    layers, _ = _record(code)
    by_name = {n["name"]: (i, n) for i, n in enumerate(layers)}
    _, conv1 = by_name["layers.0.conv1"]
    assert conv1["line"] == _line_of(code, "self.conv1 =")  # in the block class, not Net's `self.layers =`
    stem_relu, _ = by_name["stem.2"]
    _, shortcut = by_name["layers.0.shortcut"]
    assert shortcut["inputs"] == [stem_relu]  # the identity shortcut reads the block's input, skipping its convs
    # The next block reads `relu(bn2 + shortcut)`, made by functional code: both branches of the add feed it.
    bn2, _ = by_name["layers.0.bn2"]
    shortcut_index, _ = by_name["layers.0.shortcut"]
    assert by_name["layers.1.conv1"][1]["inputs"] == [bn2, shortcut_index]
    assert by_name["layers.1.shortcut.0"][1]["inputs"] == [bn2, shortcut_index]  # the same block input, same edges


def test_the_graph_is_capped_and_says_so():
    code = """
import torch.nn as nn
class Net(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self.act = nn.ReLU()
    def forward(self, x):
        for _ in range(2500):
            x = self.act(x)
        return x[:, :10, 0, 0]
"""
    layers, truncated = _record(code)
    assert (len(layers), truncated) == (MAX_LAYERS, True)
    assert layers[0]["line"] == 6


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda n: n.update(inputs=[5]), "an edge to a later node"),
        (lambda n: n.update(params=-1), "negative params"),
        (lambda n: n.update(params=True), "a boolean count"),
        (lambda n: n.update(shape=[1, "x"]), "a non-integer dimension"),
        (lambda n: n.update(line=0), "line 0"),
        (lambda n: n.pop("type"), "a missing field"),
    ],
)
def test_the_parent_drops_a_malformed_graph(mutate, why):
    layers, _ = _record(SEEDS["lenet"])
    assert read_layers(layers) == layers
    mutate(layers[1])
    assert read_layers(layers) is None, why


def test_the_parent_drops_an_oversized_graph_and_cuts_long_names():
    node = {"name": "x" * 10_000, "type": "Conv2d", "params": 1, "shape": [1], "inputs": [], "line": None}
    assert read_layers([node] * (MAX_LAYERS + 1)) is None
    assert len(read_layers([node])[0]["name"]) == MAX_NAME


def test_sandboxed_validation_returns_the_graph_and_the_event_carries_it(tmp_path):
    (tmp_path / "scratch").mkdir()
    limits = SandboxLimits(timeout_s=60, memory_mb=3072, max_processes=48, scratch_root=tmp_path / "scratch")
    server = make_fork_server(limits.scratch_root)
    try:
        result = validate_candidate(SEEDS["lenet"], limits, launcher=server)
        broken = validate_candidate(SEEDS["lenet"].replace("out_shape[0]", "7"), limits, launcher=server)
    finally:
        server.close()
    assert result.outcome == "ok" and result.layers == _record(SEEDS["lenet"])[0]
    assert (broken.outcome, broken.layers) == ("shape_error", None)

    store = open_run(tmp_path / "run", load_config(preset="demo"))
    try:
        store.start_cycle(1, 1, None)
        cid, _ = store.start_candidate(1, 0)
        store.candidate_generated(cid, SEEDS["lenet"], 1, 10, 0.5)
        event = store.candidate_validated(cid, True, "ok", None, None, result.params, layers=result.layers)
        wire = event.to_wire(store.run_id)
        assert_server_message(wire)
        assert len(wire["data"]["layers"]) == 12 and wire["data"]["layersTruncated"] is False
    finally:
        store.close()
