"""The product's settings, with one addition: the bare baseline view the benchmarks compare to."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
