"""Assignment must agree with GrowthBook exactly: its own conformance cases, and its
Python SDK as an oracle on random inputs."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from growthbook import core as oracle

from experiments.assignment import (
    assign,
    bucket_ranges,
    choose_variation,
    equal_weights,
    fnv1a32,
    gb_hash,
    in_namespace,
)

ROOT = Path(__file__).resolve().parents[2]
CASES_PATH = Path(os.environ.get("GROWTHBOOK_CASES", ROOT.parent / "shared" / "growthbook" / "cases.json"))
ORACLE_CASES = 12_000


@pytest.fixture(scope="module")
def cases():
    assert CASES_PATH.exists(), f"GrowthBook's cases.json not found at {CASES_PATH} (set GROWTHBOOK_CASES)"
    return json.loads(CASES_PATH.read_text())


def rounded(ranges):
    return [[round(a, 8), round(b, 8)] for a, b in ranges]


def test_hash_cases(cases):
    assert len(cases["hash"]) >= 10
    for seed, value, version, expected in cases["hash"]:
        assert gb_hash(seed, value, version) == expected, (seed, value, version)


def test_bucket_range_cases(cases):
    for name, (count, coverage, weights), expected in cases["getBucketRange"]:
        assert rounded(bucket_ranges(count, coverage, weights)) == rounded(expected), name


def test_choose_variation_cases(cases):
    for name, n, ranges, expected in cases["chooseVariation"]:
        assert choose_variation(n, [tuple(r) for r in ranges]) == expected, name


def test_in_namespace_cases(cases):
    for name, visitor, namespace, expected in cases["inNamespace"]:
        assert in_namespace(visitor, tuple(namespace)) is expected, name


def test_equal_weights_cases(cases):
    for count, expected in cases["getEqualWeights"]:
        assert [round(w, 8) for w in equal_weights(count)] == [round(w, 8) for w in expected]


def test_hash_runs_over_utf16_code_units():
    # "😀" is one code point but two UTF-16 units (a surrogate pair), as JavaScript sees it.
    assert fnv1a32("😀") == fnv1a32("\ud83d\ude00")
    assert gb_hash("seed", "visitor-😀", 2) == oracle.gbhash("seed", "visitor-😀", 2)


_ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz0123456789-_",
    "ÆØÅæøåçéèüßñ",
    "价格测试用户中文",
    "😀🎉💸🛒👩‍💻🇳🇴",
    "\u0301\u200d\t \"'\\/",
]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(rng.choice(_ALPHABETS)) for _ in range(rng.randint(0, 24)))


def _weights(rng: random.Random, count: int) -> list[float] | None:
    kind = rng.random()
    if kind < 0.2:
        return None
    raw = [rng.random() + 0.01 for _ in range(count)]
    weights = [w / sum(raw) for w in raw]
    if kind < 0.3:  # malformed: GrowthBook falls back to equal weights
        return [w * rng.choice([0.5, 1.5]) for w in weights]
    if kind < 0.35:
        return weights[:-1] or [1.0, 1.0]
    return weights


def test_agrees_with_the_growthbook_sdk_on_random_cases():
    rng = random.Random(20261123)
    for _ in range(ORACLE_CASES):
        seed, visitor = _text(rng), _text(rng)
        for version in (1, 2):
            assert gb_hash(seed, visitor, version) == oracle.gbhash(seed, visitor, version), (seed, visitor)
        count = rng.randint(1, 6)
        coverage = rng.choice([1, 1, rng.random(), rng.uniform(-0.5, 1.5)])
        weights = _weights(rng, count)
        ours = bucket_ranges(count, coverage, weights)
        theirs = oracle.getBucketRanges(count, coverage, weights)
        assert rounded(ours) == rounded(theirs), (count, coverage, weights)
        n = oracle.gbhash(seed, visitor, 2)
        assert choose_variation(n, ours) == oracle.chooseVariation(n, theirs)
        namespace = (_text(rng), rng.random() / 2, 0.5 + rng.random() / 2)
        assert in_namespace(visitor, namespace) == oracle.inNamespace(visitor, namespace)


def test_a_visitor_keeps_their_variant_across_calls_and_processes():
    visitors = [f"visitor-{i}" for i in range(10_000)]
    weights = [0.5, 0.3, 0.2]
    here = [assign(visitor_id=v, seed="price-test", weights=weights).variation for v in visitors]
    assert here == [assign(visitor_id=v, seed="price-test", weights=weights).variation for v in visitors]
    code = (
        "import json, sys; from experiments.assignment import assign; "
        "print(json.dumps([assign(visitor_id=f'visitor-{i}', seed='price-test', "
        "weights=[0.5, 0.3, 0.2]).variation for i in range(10000)]))"
    )
    other = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(other.stdout) == here


def test_coverage_leaves_visitors_out_and_weights_split_the_rest():
    outcomes = [
        assign(visitor_id=f"v{i}", seed="s", weights=[0.5, 0.5], coverage=0.4).variation
        for i in range(20_000)
    ]
    share_out = outcomes.count(-1) / len(outcomes)
    assert 0.58 < share_out < 0.62
    assert abs(outcomes.count(0) - outcomes.count(1)) < 0.05 * len(outcomes)


def test_unknown_hash_version_is_refused():
    with pytest.raises(ValueError, match="hash version"):
        assign(visitor_id="v", seed="s", weights=[1.0], hash_version=3)
