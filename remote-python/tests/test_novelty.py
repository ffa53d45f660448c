"""Novelty: the MinHash/LSH generation-time filter and the AST structural signature used at selection time."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from archloop.corpus.seeds import load_seed_corpus
from archloop.novelty.minhash import (
    MinHashIndex,
    NoveltySettings,
    Shingler,
    shingle_hash,
    tokenize,
)
from archloop.novelty.structure import structural_signature

SEEDS = {seed.name: seed.code for seed in load_seed_corpus()}


def rename_one_local(code: str) -> str:
    """The cheapest 'variation' an LLM makes: one local variable renamed throughout."""
    return re.sub(r"\bout\b", "y", code)


def disguise(code: str) -> str:
    """A heavier disguise: locals and a helper class renamed, comments added. Same architecture."""
    renames = {
        "BasicBlock": "ResidualUnit",
        "out": "y",
        "in_channels": "cin",
        "out_channels": "cout",
        "stride": "step",
        "shortcut": "skip_path",
    }
    for old, new in renames.items():
        code = re.sub(rf"\b{old}\b", new, code)
    return "# my brand new architecture\n" + code.replace("\n\n\n", "\n\n\n# ---\n")


@pytest.fixture(scope="module")
def seed_index() -> MinHashIndex:
    index = MinHashIndex()
    index.add_many(SEEDS.items())
    return index


def test_tokenizer_is_the_papers_regex():
    assert tokenize("self.conv1 = nn.Conv2d(3, 16, 3)  # c") == [
        "self", ".", "conv1", "=", "nn", ".", "Conv2d", "(", "3", ",", "1", "6", ",", "3", ")", "#", "c",
    ]  # fmt: skip


def test_signature_is_exactly_datasketchs_minhash_over_the_shingles():
    code = SEEDS["resnet_basic"]
    tokens = tokenize(code)
    shingles = {tuple(tokens[i : i + 7]) for i in range(len(tokens) - 6)}
    reference = MinHash(num_perm=128, seed=1, hashfunc=shingle_hash, scheme="affine32")
    reference.update_batch(shingles)
    assert np.array_equal(Shingler().signature(code), reference.hashvalues)


def test_bulk_signatures_equal_single_ones():
    shingler = Shingler()
    codes = list(SEEDS.values())
    batched = shingler.signatures(codes)
    for row, code in enumerate(codes):
        assert np.array_equal(batched[row], shingler.signature(code))


def test_identical_code_is_not_novel_with_jaccard_one(seed_index: MinHashIndex):
    result = seed_index.query(SEEDS["densenet"])
    assert result.novel is False
    assert result.max_jaccard == pytest.approx(1.0)
    assert result.nearest == "densenet"


def test_a_renamed_variable_copy_is_caught(seed_index: MinHashIndex):
    copy = rename_one_local(SEEDS["resnet_basic"])
    assert copy != SEEDS["resnet_basic"]
    result = seed_index.query(copy)
    assert result.novel is False, result
    assert result.nearest == "resnet_basic"
    assert 0.85 <= result.max_jaccard < 1.0


def test_a_different_family_is_novel():
    index = MinHashIndex()
    index.add_many((name, code) for name, code in SEEDS.items() if name != "inception")
    result = index.query(SEEDS["inception"])
    assert result.novel is True
    assert result.max_jaccard < 0.85


def test_no_lsh_candidate_reports_zero_and_none_but_nearest_still_finds_the_closest():
    index = MinHashIndex()
    index.add("squeezenet", SEEDS["squeezenet_fire"])
    index.add("vgg", SEEDS["vgg_style"])
    result = index.query(SEEDS["mobilenetv2"])
    assert result.max_jaccard == 0.0 and result.nearest is None and result.novel is True
    nearest = index.nearest(SEEDS["mobilenetv2"])
    assert nearest is not None
    key, jaccard = nearest
    assert key in {"squeezenet", "vgg"} and 0.0 < jaccard < 0.85
    assert MinHashIndex().nearest(SEEDS["vgg_style"]) is None


def test_bad_input_gets_clear_errors(seed_index: MinHashIndex):
    with pytest.raises(ValueError, match="no tokens"):
        seed_index.query("   \n\t ")
    with pytest.raises(ValueError, match="already"):
        seed_index.add("lenet", SEEDS["lenet"])
    with pytest.raises(ValueError, match="code #1"):
        Shingler().signatures(["x = 1", ""])
    with pytest.raises(ValueError):
        NoveltySettings(threshold=1.5)


def test_a_code_shorter_than_one_shingle_still_has_a_signature():
    index = MinHashIndex()
    index.add("tiny", "x = 1")
    assert index.query("x = 1") == index.query("x = 1").__class__(1.0, "tiny", False)


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=300).filter(lambda text: tokenize(text)))
def test_any_text_with_tokens_is_its_own_nearest_neighbour(text: str):
    index = MinHashIndex()
    index.add("self", text)
    assert index.query(text).max_jaccard == 1.0


# ---- structural signature ----


def test_structural_signature_ignores_comments_whitespace_literals_and_local_renames():
    code = SEEDS["resnet_basic"]
    variant = disguise(code).replace("    ", "  ").replace("16", "24")
    variant = variant.replace("(self, x):", "(self, x):  # forward pass")
    assert structural_signature(variant) == structural_signature(code)


def test_a_heavy_disguise_slips_past_the_text_filter_but_not_the_structural_signature(seed_index: MinHashIndex):
    # Why the paper has both: 7-token shingles over raw text break at every renamed token and comment, so a few
    # renames push Jaccard under 0.85; the AST signature is blind to exactly those edits.
    disguised = disguise(SEEDS["resnet_basic"])
    nearest = seed_index.nearest(disguised)
    assert nearest is not None and nearest[0] == "resnet_basic" and nearest[1] < 0.85
    assert seed_index.query(disguised).novel is True
    assert structural_signature(disguised) == structural_signature(SEEDS["resnet_basic"])


def test_structural_signature_differs_between_all_seed_families():
    signatures = {structural_signature(code) for code in SEEDS.values()}
    assert len(signatures) == len(SEEDS)


def test_structural_signature_sees_a_removed_residual_connection():
    code = SEEDS["resnet_basic"]
    without_skip = code.replace("return F.relu(out + self.shortcut(x))", "return F.relu(out)")
    assert without_skip != code
    assert structural_signature(without_skip) != structural_signature(code)


def test_structural_signature_sees_an_added_layer():
    code = SEEDS["lenet"]
    deeper = code.replace(
        "nn.Linear(84, out_shape[0]),", "nn.Linear(84, 84),\n            nn.Linear(84, out_shape[0]),"
    )
    assert deeper != code
    assert structural_signature(deeper) != structural_signature(code)


def test_structural_signature_of_unparseable_code_is_a_value_error():
    with pytest.raises(ValueError, match="unparseable"):
        structural_signature("class Net(:\n")


def test_the_benchmark_runs_end_to_end_on_a_tiny_corpus(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    # Keeps bench/novelty_bench.py from rotting: same code path as the real run, 300 stored codes, 8 queries.
    bench_path = Path(__file__).resolve().parents[2] / "bench" / "novelty_bench.py"
    spec = importlib.util.spec_from_file_location("novelty_bench", bench_path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "novelty_bench", bench)  # dataclasses resolve annotations through it
    spec.loader.exec_module(bench)
    assert bench.main(["--sizes", "300", "--queries", "8"]) == 0
    output = capsys.readouterr().out
    table_row = next(line for line in output.splitlines() if line.startswith("| 300 |"))
    assert table_row.count("x)") == 4  # every baseline has its ratio to LSH


def test_the_loop_names_the_closest_stored_net_even_when_lsh_finds_no_near_duplicate():
    from archloop.llm.demo_corpus import family_corpus
    from archloop.run.llm_stages import _MinHashNovelty

    novelty = _MinHashNovelty(NoveltySettings())
    empty = novelty.query(SEEDS["lenet"])
    assert empty.nearest is None and empty.novel and empty.max_jaccard == 0.0
    for name, code in SEEDS.items():
        novelty.add(name, code)
    near_copy = SEEDS["vgg_style"].replace("nn.ReLU(inplace=True)", "nn.SiLU(inplace=True)")
    hit = novelty.query(near_copy)
    assert hit.nearest == "vgg_style" and hit.max_jaccard >= 0.5
    far = family_corpus(1, seed=5)[0]  # another style: LSH returns nothing at 0.85
    assert MinHashIndex().query(far).nearest is None
    result = novelty.query(far)
    assert result.novel and result.nearest in SEEDS and 0.0 < result.max_jaccard < 0.85
    exhaustive = MinHashIndex()
    exhaustive.add_many(SEEDS.items())
    assert (result.nearest, result.max_jaccard) == exhaustive.nearest(far)
