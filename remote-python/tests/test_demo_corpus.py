"""The demo model's procedural pre-training family: every net is in the contract, builds, fits, and nets differ."""

from __future__ import annotations

import random

from archloop.evaluation.contract import check_source
from archloop.llm.demo_corpus import family_corpus, sample_family_net
from archloop.llm.demo_model import builds_and_fits, default_corpus
from archloop.llm.prompts import CODE_PREFIX
from archloop.novelty.minhash import MinHashIndex
from archloop.novelty.structure import structural_signature


def test_family_nets_pass_the_contract_build_forward_and_fit_the_parameter_budget():
    nets = family_corpus(24, seed=3)
    assert len(nets) == 24 and len(set(nets)) == 24
    for net in nets:
        assert net.startswith(CODE_PREFIX)  # so the forced prefix's code + a completion is exactly such a net
        assert "${" not in net
        report = check_source(net)
        assert report.ok, report.message
        assert builds_and_fits(net), net


def test_the_family_is_reproducible_from_its_seed():
    assert family_corpus(5, seed=7) == family_corpus(5, seed=7)
    assert family_corpus(5, seed=7) != family_corpus(5, seed=8)


def test_family_nets_differ_in_structure_and_text_from_each_other_and_from_the_seeds():
    nets = [sample_family_net(random.Random(i)) for i in range(40)]
    assert len({structural_signature(net) for net in nets}) >= 35
    seeds = MinHashIndex()
    seeds.add_many((f"seed-{i}", code) for i, code in enumerate(default_corpus()))
    assert all(seeds.query(net).novel for net in nets)  # another style than the seeds
    earlier = MinHashIndex()
    earlier.add_many((f"net-{i}", net) for i, net in enumerate(nets[:10]))
    # Per-net styling keeps most nets below the 0.85 threshold against a handful of earlier ones.
    assert sum(earlier.query(net).novel for net in nets[10:]) >= 15
