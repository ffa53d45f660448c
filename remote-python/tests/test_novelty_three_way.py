"""Novelty three ways: the verdicts of tokens, structure and layer graph on renamed, re-widthed and different nets."""

from __future__ import annotations

import re

import pytest

from archloop.corpus.seeds import load_seed_corpus
from archloop.novelty.graph import GraphIndex, layer_graph
from archloop.novelty.settings import NoveltySettings
from archloop.novelty.three_way import ThreeWayIndex

SEEDS = {seed.name: seed.code for seed in load_seed_corpus()}
WIDTHS = {"12": "20", "16": "24", "24": "28", "32": "40", "64": "80", "96": "112", "128": "160", "256": "320"}


def renamed(code: str) -> str:
    """Every local a forward or __init__ assigns renamed, and every helper class: the same net."""
    names = set(re.findall(r"^\s+([a-z_][a-z0-9_]*)\s*=", code, re.MULTILINE)) | {"x"}
    classes = set(re.findall(r"^class (\w+)", code, re.MULTILINE)) - {"Net"}
    for name in sorted(names | classes):
        code = re.sub(rf"\b{name}\b", f"{name}_v2" if name in classes else f"t_{name}", code)
    return code


def rewidthed(code: str) -> str:
    """Every channel width literal changed (16 -> 24, 32 -> 40, ...): a wider net of the same design."""
    return re.sub(r"(?<![\w.])(12|16|24|32|64|96|128|256)(?![\w.])", lambda match: WIDTHS[match.group(1)], code)


@pytest.fixture(scope="module")
def index() -> ThreeWayIndex:
    built = ThreeWayIndex(NoveltySettings())
    for name, code in SEEDS.items():
        built.add(f"seed:{name}", code)
    return built


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_a_renamed_seed_is_caught_by_structure_and_graph(index: ThreeWayIndex, name: str):
    variant = renamed(SEEDS[name])
    assert variant != SEEDS[name]
    result = index.query(variant)
    structure, graph = result.of("structure"), result.of("graph")
    assert structure.duplicate and structure.nearest == f"seed:{name}"
    assert graph.duplicate and graph.nearest == f"seed:{name}" and graph.score == pytest.approx(1.0)
    # Tokens may or may not see through a rename; when they miss, the default gate (tokens only) says novel.
    assert result.novel == (not result.of("minhash").duplicate)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_a_rewidthed_seed_is_caught_by_structure_and_graph(index: ThreeWayIndex, name: str):
    variant = rewidthed(SEEDS[name])
    assert variant != SEEDS[name]
    result = index.query(variant)
    assert result.of("structure").duplicate and result.of("structure").nearest == f"seed:{name}"
    assert result.of("graph").duplicate and result.of("graph").nearest == f"seed:{name}"


def test_renaming_is_missed_by_tokens_for_some_seeds_which_is_why_the_other_measures_exist(index: ThreeWayIndex):
    missed = [name for name in SEEDS if not index.query(renamed(SEEDS[name])).of("minhash").duplicate]
    assert missed  # a thorough rename pushes token Jaccard under 0.85


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_a_really_different_net_is_new_under_every_measure(name: str):
    others = ThreeWayIndex(NoveltySettings(gate=["minhash", "structure", "graph"]))
    for other, code in SEEDS.items():
        if other != name:
            others.add(other, code)
    result = others.query(SEEDS[name])
    assert [m.duplicate for m in result.measures] == [False, False, False]
    assert result.novel and "novel by the gate" in result.explanation


def test_the_gate_decides_the_verdict_and_the_sentence_names_why(index: ThreeWayIndex):
    variant = renamed(SEEDS["resnet_basic"])
    tokens_only = index.query(variant)
    assert not tokens_only.of("minhash").duplicate, "pick a seed whose rename tokens miss"
    assert tokens_only.novel
    gated = ThreeWayIndex(NoveltySettings(gate=["minhash", "graph"]))
    gated.add("seed:resnet_basic", SEEDS["resnet_basic"])
    result = gated.query(variant)
    assert not result.novel
    assert "same structure as seed:resnet_basic" in result.explanation
    assert "layer graph 1.00 similar to seed:resnet_basic" in result.explanation
    assert "duplicate by the gate (graph)" in result.explanation
    wire = [m.wire() for m in result.measures]
    assert [(w["measure"], w["gate"]) for w in wire] == [("minhash", True), ("structure", False), ("graph", True)]


def test_the_layer_graph_reads_modules_and_data_flow_without_running_the_code():
    graph = layer_graph(SEEDS["resnet_basic"])
    labels = {label for _, label in graph.nodes(data="label")}
    assert {"Conv2d", "BatchNorm2d", "add", "block", "input", "output"} <= labels
    assert graph.number_of_edges() >= graph.number_of_nodes() - 2  # a connected flow per class, not loose nodes
    with pytest.raises(ValueError, match="unparseable"):
        layer_graph("class Net(:\n")


def test_the_graph_index_is_exact_across_its_batched_rebuilds():
    index = GraphIndex()
    assert index.query(SEEDS["lenet"]).nearest is None
    for round_ in range(10):  # more rows than one rebuild batch
        for name, code in SEEDS.items():
            index.add(f"{name}#{round_}", code)
    assert len(index) == 10 * len(SEEDS)
    match = index.query(renamed(SEEDS["densenet"]))
    assert match.nearest == "densenet#0" and match.similarity == pytest.approx(1.0)
    with pytest.raises(ValueError, match="already"):
        index.add("densenet#0", SEEDS["densenet"])


def test_bad_gate_settings_are_refused():
    with pytest.raises(ValueError, match="gate"):
        NoveltySettings(gate=["tokens"])
    with pytest.raises(ValueError, match="gate"):
        NoveltySettings(gate=[])


def test_the_loops_index_fills_the_novelty_event_and_it_is_valid_on_the_wire(tmp_path):
    from wire import assert_server_message

    from archloop.config import load_config
    from archloop.run.llm_stages import _MinHashNovelty
    from archloop.run.loop import open_run

    novelty = _MinHashNovelty(NoveltySettings(gate=["minhash", "structure"]))
    novelty.add("seed:lenet", SEEDS["lenet"])
    result = novelty.query(rewidthed(SEEDS["lenet"]))
    assert not result.novel and [m["measure"] for m in result.measures] == ["minhash", "structure", "graph"]
    store = open_run(tmp_path / "run-a", load_config(preset="demo"))
    try:
        store.start_cycle(1, 1, None)
        cid, _ = store.start_candidate(1, 0)
        store.candidate_generated(cid, "code", 1, 10, 0.5)
        store.candidate_validated(cid, True, "ok", None, None, 100)
        event = store.candidate_novelty(
            cid,
            result.max_jaccard,
            result.nearest,
            result.novel,
            "abc",
            False,
            measures=list(result.measures),
            explanation=result.explanation,
        )
        assert event.data["measures"][1] == {
            "measure": "structure",
            "score": 1.0,
            "nearest": "seed:lenet",
            "duplicate": True,
            "gate": True,
        }
        assert "same structure as seed:lenet" in event.data["explanation"]
        assert_server_message(event.to_wire(store.run_id))
    finally:
        store.close()


def test_a_rebuilt_index_reuses_the_features_it_computed_and_answers_the_same():
    from archloop.novelty.three_way import FeatureCache

    cache = FeatureCache()
    first = ThreeWayIndex(NoveltySettings(), cache)
    for name, code in SEEDS.items():
        first.add(name, code)
    assert len(cache._entries) == len(SEEDS)
    second = ThreeWayIndex(NoveltySettings(), cache)
    for name, code in SEEDS.items():
        second.add(name, code)
    assert len(cache._entries) == len(SEEDS)  # nothing recomputed
    probe = renamed(SEEDS["mobilenetv2"])
    assert first.query(probe) == second.query(probe)
    unparseable = ThreeWayIndex(NoveltySettings(), cache)
    unparseable.add("broken", "class Net(:\n    x = 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8\n")
    result = unparseable.query(SEEDS["lenet"])
    assert result.of("graph").nearest is None and result.of("structure").nearest is None


def test_the_gate_is_read_from_the_config_and_a_bad_one_is_named(tmp_path):
    from archloop.config import load_config
    from archloop.settings import ConfigError

    good = tmp_path / "good.toml"
    good.write_text('[novelty]\ngate = ["structure", "graph"]\ngraph_threshold = 0.9\n')
    config = load_config(good, preset="demo")
    assert (config.novelty.gate, config.novelty.graph_threshold) == (["structure", "graph"], 0.9)
    bad = tmp_path / "bad.toml"
    bad.write_text('[novelty]\ngate = ["tokens"]\n')
    with pytest.raises(ConfigError, match=r"\[novelty\] gate must be a list made of 'minhash', 'structure' or 'graph'"):
        load_config(bad, preset="demo")
