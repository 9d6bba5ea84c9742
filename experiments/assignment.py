"""Which variant a visitor sees: deterministic, sticky and bit-for-bit GrowthBook's.

The same seed, weights and coverage give a visitor the same variant here as in any
GrowthBook SDK, so a customer can move between the two without reshuffling visitors.
Pure functions: no database, no cache, no clock.

GrowthBook hashes with 32-bit FNV-1a over UTF-16 code units (JavaScript's
``charCodeAt``), so a character outside the Basic Multilingual Plane, such as an emoji,
counts as two units; ``ord()`` over code points would disagree for those.
"""

from collections.abc import Sequence
from dataclasses import dataclass

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF

# GrowthBook accepts weights that sum to 1 within this tolerance, else uses equal weights.
WEIGHT_SUM_MIN = 0.99
WEIGHT_SUM_MAX = 1.01

BucketRange = tuple[float, float]


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a over the UTF-16 code units of ``text``."""
    value = _FNV_OFFSET
    if text.isascii():
        # An ASCII character is one UTF-16 code unit of the same value: hash the bytes
        # directly (twice as fast, and quotes hash every visitor twice).
        for unit in text.encode("ascii"):
            value = ((value ^ unit) * _FNV_PRIME) & _MASK32
        return value
    data = text.encode("utf-16-le", "surrogatepass")
    for i in range(0, len(data), 2):
        value ^= data[i] | (data[i + 1] << 8)
        value = (value * _FNV_PRIME) & _MASK32
    return value


def gb_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's hash of a visitor into [0, 1); None for an unknown version."""
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def equal_weights(count: int) -> list[float]:
    if count <= 0:
        return []
    return [1 / count] * count


def bucket_ranges(
    count: int, coverage: float = 1, weights: Sequence[float] | None = None
) -> list[BucketRange]:
    """The slice of [0, 1) that sends a visitor to each variant.

    Each variant owns a span as wide as its weight; coverage shrinks every span from its
    start, so the visitors outside coverage fall between spans and see no variant.
    Malformed weights (wrong count, sum not ≈ 1) fall back to equal weights.
    """
    coverage = min(max(coverage, 0), 1)
    fallback = equal_weights(count)
    chosen = list(weights) if weights else fallback
    if len(chosen) != count or not WEIGHT_SUM_MIN <= sum(chosen) <= WEIGHT_SUM_MAX:
        chosen = fallback
    ranges = []
    cumulative = 0.0
    for weight in chosen:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variation(n: float, ranges: Sequence[BucketRange]) -> int:
    """The index of the range holding ``n``, or -1 if none does."""
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return -1


def in_namespace(visitor_id: str, namespace: tuple[str, float, float]) -> bool:
    """Whether a visitor falls in a namespace's [start, end) slice (hash version 1)."""
    name, start, end = namespace
    n = gb_hash("__" + name, visitor_id, 1)
    return n is not None and start <= n < end


@dataclass(frozen=True)
class Assignment:
    variation: int  # index into the variants, or -1: outside coverage, sees the base price
    bucket: float  # the visitor's hash, kept for audits and debugging

    @property
    def in_experiment(self) -> bool:
        return self.variation >= 0


def assign(
    *, visitor_id: str, seed: str, weights: Sequence[float], coverage: float = 1, hash_version: int = 2
) -> Assignment:
    """The variant a visitor gets in an experiment: GrowthBook's ``runExperiment`` core."""
    n = gb_hash(seed, visitor_id, hash_version)
    if n is None:
        raise ValueError(f"unknown hash version {hash_version}")
    return Assignment(variation=choose_variation(n, bucket_ranges(len(weights), coverage, weights)), bucket=n)
