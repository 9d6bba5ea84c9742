"""Write docs/BENCHMARKS.md and docs/benchmarks.png from the JSON in bench/results/.

``--smoke`` reads bench/results/smoke/ and writes its report there (the docs keep the
full run's), after checking that every file has the shape this script reads: the CI
smoke test of the benchmarks.
"""

import argparse
import json
from pathlib import Path
from typing import Any

from bench import common

ORDER = ("quote", "ingest", "fanout", "scale", "growthbook")
REQUIRED = (
    "schema",
    "benchmark",
    "smoke",
    "started_at",
    "machine",
    "load_average",
    "params",
    "measurements",
    "targets",
)
TARGET_FIELDS = ("name", "value", "unit", "goal", "met")


class Malformed(Exception):
    pass


def load(folder: Path) -> dict[str, dict[str, Any]]:
    """Every benchmark's latest results in ``folder``, checked for the fields the report uses."""
    found = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        missing = [field for field in REQUIRED if field not in data]
        if missing:
            raise Malformed(f"{path}: missing {', '.join(missing)}")
        if data["schema"] != common.SCHEMA_VERSION:
            raise Malformed(f"{path}: schema {data['schema']}, expected {common.SCHEMA_VERSION}")
        for target in data["targets"]:
            if any(field not in target for field in TARGET_FIELDS):
                raise Malformed(f"{path}: a target lacks one of {', '.join(TARGET_FIELDS)}")
        found[data["benchmark"]] = data
    return found


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**below target**", None: "–"}[met]


def _machine(runs: dict[str, dict[str, Any]]) -> list[str]:
    latest = max(runs.values(), key=lambda r: r["started_at"])
    m = latest["machine"]
    versions = m.get("versions", {})
    dates = sorted(r["started_at"][:10] for r in runs.values())
    rows = [
        ("CPU", f"{m['cpu']}, {m['cores']} cores"),
        ("RAM", f"{m['ram_gb']} GB"),
        ("OS", m["os"]),
        ("Python", m["python"]),
        (
            "PostgreSQL",
            versions.get("PostgreSQL", "?")
            + (f", shared_buffers {versions['shared_buffers']}" if "shared_buffers" in versions else ""),
        ),
        ("Redis", versions.get("Redis", "?")),
        (
            "Django / DRF / Channels",
            " / ".join(versions.get(k, "?") for k in ("Django", "djangorestframework", "channels")),
        ),
        ("granian / uvicorn / wrk", " / ".join(versions.get(k, "?") for k in ("granian", "uvicorn", "wrk"))),
        ("Date", dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"),
        ("Commit", m.get("commit") or "?"),
    ]
    lines = ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    lines += [
        "",
        "Load average (1 min) before and after each benchmark, a sign of how noisy the machine was:",
        "",
    ]
    lines += [
        "| benchmark | before | after |",
        "|---|---|---|",
        *(
            f"| {name} | {runs[name]['load_average']['before'][0]} | {runs[name]['load_average']['after'][0]} |"
            for name in ORDER
            if name in runs
        ),
    ]
    return lines


def _summary(runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| benchmark | target | asked | measured | |", "|---|---|---|---|---|"]
    for name in ORDER:
        for t in runs.get(name, {}).get("targets", []):
            lines.append(
                f"| {name} | {t['name']} | {t['goal']} | {_fmt(t['value'], t['unit'])} | {_verdict(t['met'])} |"
            )
    return lines


def _quote(run: dict[str, Any]) -> list[str]:
    m, p = run["measurements"], run["params"]
    bare, quote = m["bare_throughput"], m["quote_throughput"]
    bs, qs = m["bare_steady"], m["quote_steady"]
    redis = m["redis"]
    return [
        "## 1. Quote",
        "",
        f"`POST /api/v1/quote/` for one product in a running experiment, a new visitor each time, with an API key, "
        f"the per-plan rate limit, metering with the quota check, assignment and exposure tracking all on; against a "
        f"bare Django view that parses the same body and answers JSON. Both served by `{p['server']}` "
        f"(the `web` service of docker-compose.yml), in {p['rounds']} alternating rounds of {p['round_seconds']} s "
        f"with wrk ({p['connections']} connections), then at a steady {p['steady_rate']} requests/s (open loop, "
        f"{p['steady_seconds']} s each).",
        "",
        "| | bare Django | quote | quote / bare |",
        "|---|---|---|---|",
        f"| throughput, median (req/s) | {_fmt(bare['per_second_median'])} | {_fmt(quote['per_second_median'])} | "
        f"{m['ratio'] * 100:.0f} % |",
        f"| server CPU per request (µs) | {_fmt(bare.get('server_cpu_us_per_request'))} | "
        f"{_fmt(quote.get('server_cpu_us_per_request'))} | {_fmt((m.get('cpu_ratio') or 0) * 100)} % |",
        f"| rounds (req/s) | {', '.join(_fmt(x) for x in bare['per_second_rounds'])} | "
        f"{', '.join(_fmt(x) for x in quote['per_second_rounds'])} | |",
        f"| p50 / p99 / max at {p['steady_rate']} req/s (ms) | {bs['p50_ms']} / {bs['p99_ms']} / {bs['max_ms']} | "
        f"{qs['p50_ms']} / {qs['p99_ms']} / {qs['max_ms']} | |",
        "",
        f"Database queries per warm quote: **{m['db_queries_per_warm_quote']}** (PostgreSQL's own transaction count "
        f"over the {_fmt(qs['requests'])} steady-rate quotes). Redis round trips per warm quote: "
        f"**{redis['round_trips_per_request']}** ({', '.join(f'{k} {v}' for k, v in redis['commands'].items())}, "
        f"seen by Redis MONITOR over {redis['requests']} quotes).",
        "",
        "What it took to get there, each step measured with this script: every per-request Redis operation "
        "(key record check, rate limit, metering and the quota, config version, exposure buffer) in one Lua "
        "script (`pricing/hotpath.py`); each web process keeping its own copy of key records and config, which "
        "the script checks byte for byte before it counts anything, so a revoked key or a price edit applies from "
        "the next request; the everyday quote answered without DRF's request and response machinery, with the "
        "same bytes (`pricing.api.quote_direct`); and that quote answered ahead of the middlewares that serve "
        "pages and sessions, which do nothing for a call by API key (`pricing/middleware.py`). Serving through "
        "granian with one thread a worker rather than its default pool also counts: threads fighting over the GIL "
        "cost a third of the quote's throughput.",
    ]


def _ingest(run: dict[str, Any]) -> list[str]:
    m, p = run["measurements"], run["params"]
    return [
        "## 2. Ingestion",
        "",
        f"`POST /api/v1/events/` in batches of {_fmt(p['batch'])} ({p['mix']}, each with a timestamp; purchases "
        f"with revenue and an idempotency key), {p['senders']} senders at once, {p['batches_per_round']} batches a "
        f"round; against psycopg's COPY of the very rows the API stores, into the same tables and indexes, one COPY "
        f"per batch and table, from as many connections. Alternating rounds.",
        "",
        "| | events (rows) / s, median | rounds |",
        "|---|---|---|",
        f"| API | {_fmt(m['api_events_per_second'])} | {', '.join(_fmt(x) for x in m['api_rounds'])} |",
        f"| raw COPY | {_fmt(m['copy_rows_per_second'])} | {', '.join(_fmt(x) for x in m['copy_rounds'])} |",
        f"| API / COPY | {m['ratio'] * 100:.0f} % | |",
        "",
        f"Every batch answered {', '.join(f'{k}: {v}' for k, v in m['statuses'].items())}; events rejected: "
        f"{m['rejected_events']}.",
    ]


def _fanout(run: dict[str, Any]) -> list[str]:
    m, p = run["measurements"], run["params"]
    lines = [
        "## 3. Fan-out",
        "",
        f"{_fmt(p['clients'])} WebSocket clients of one tenant on `{p['product_server']}` (the `realtime` service), "
        f"connected with browser tokens; then {p['changes']} price changes through the product's service, one a "
        f"second. Latency: from the change being made until each client has read it (the slowest is the last "
        f"client). Baseline: a bare Channels consumer (accept, join a group, relay) on the same server and channel "
        f"layer, sent the same event with `group_send`.",
        "",
        "| | bare Channels consumer | Pricelab feed |",
        "|---|---|---|",
    ]
    bare, product = m["bare"], m["product"]
    for label, key, unit in (
        ("connected", "connected", ""),
        ("connecting all took", "connect_seconds", "s"),
        ("latency p50", "p50_ms", "ms"),
        ("latency p99", "p99_ms", "ms"),
        ("latency max (last client)", "max_ms", "ms"),
    ):
        lines.append(f"| {label} | {_fmt(bare[key], unit)} | {_fmt(product[key], unit)} |")
    cpu = [" / ".join(_fmt(c.get("server_cpu_ms")) for c in side["changes"]) for side in (bare, product)]
    lines += [
        f"| server CPU per change (ms) | {cpu[0]} | {cpu[1]} |",
        f"| server memory per connection | {_fmt(bare['bytes_per_connection'] / 1024, 'KB')} | "
        f"{_fmt(product['bytes_per_connection'] / 1024, 'KB')} |",
    ]
    return lines


def _scale(run: dict[str, Any]) -> list[str]:
    m, p = run["measurements"], run["params"]
    usage, results = m["usage_rollup"], m["results"]
    lines = [
        "## 4. Scale",
        "",
        f"Generated rows, each size in a database of its own. Usage rollup over {_fmt(p['small'])} and {_fmt(p['large'])} daily "
        f"usage rows ({p['usage_days']} days of two kinds of units per tenant); results of an experiment with "
        f"{_fmt(p['small'])} and one with {_fmt(p['large'])} visitors (5 % buy; a twentieth of purchases from "
        f"visitors never exposed). Both sizes are loaded, then timed in turns (1M, 10M, 1M, …), so that the two "
        f"sides of each ratio share the same minutes of the machine; medians of {p['repeats']} runs each.",
        "",
        f"| | {' | '.join(usage)} | growth for {m['row_growth']:g}× rows |",
        f"|---|{'---|' * len(usage)}---|",
        f"| usage rollup | {' | '.join(_fmt(u['rollup_ms'], 'ms') for u in usage.values())} | "
        f"{m['usage_rollup_growth']}× |",
        *(
            [
                f"| usage rollup, first run (writes the monthly rows: "
                f"{', '.join(_fmt(u['monthly_rows_written']) for u in usage.values())}) | "
                f"{' | '.join(_fmt(u['first_rollup_ms'], 'ms') for u in usage.values())} | |"
            ]
            if all("first_rollup_ms" in u for u in usage.values())
            else []
        ),
        f"| results, computed | {' | '.join(_fmt(r['compute_ms'], 'ms') for r in results.values())} | "
        f"{m['results_compute_growth']}× |",
        f"| results API, first answer (computes) | "
        f"{' | '.join(_fmt(r['api_first_ms'], 'ms') for r in results.values())} | |",
        f"| results API, answer | {' | '.join(_fmt(r['api_ms'], 'ms') for r in results.values())} | "
        f"{m['results_api_growth']}× |",
        "",
        "From 100,000 visitors a phase's results are computed in the background every minute and the API answers "
        "from that snapshot (at most two minutes old; `computed_at` says when); below, they are computed on every "
        "request.",
    ]
    buffers = run["machine"].get("versions", {}).get("shared_buffers")
    lines += [
        "",
        "What each reads, so that its cost follows the rows it needs rather than the size of its table: the "
        "rollup reads each tenant's two recounted months as one range of the `(tenant, day, kind)` index, which "
        "carries the units (not the whole history); the results count each variant's visitors from a "
        "`(tenant, variant, phase)` index and read the phase's conversions alone, from an index that "
        "carries what results need of them, each with its visitor's exposure, copied as it was stored (before: "
        "a hash join over every exposure of the phase), and sum them per variant without sorting. PostgreSQL's JIT compiler is off for these statements: it added "
        "tens to 200 ms of compilation to a statement, at both sizes. Some of each statement's time does not grow "
        "with the rows, so a ratio can come out below 10×.",
    ]
    if buffers:
        lines += [
            "",
            f"PostgreSQL's own cache here is {buffers} (shared_buffers): what the 1M case reads fits in it, part "
            f"of what the 10M case reads does not and comes through the operating system's cache, a step in cost "
            f"per page that any growth ratio on this machine includes.",
        ]
    return lines


def _growthbook(run: dict[str, Any]) -> list[str]:
    m, p = run["measurements"], run["params"]
    return [
        "## 5. Against a self-hosted GrowthBook",
        "",
        "What the issue leaves open, measured as someone choosing between the two would:",
        "",
        f"- **Same visitors, same variants.** Over {_fmt(p['visitors'])} random visitor ids (ASCII, accents, emoji) "
        f"and {p['experiments']} experiment shapes, Pricelab's assignment agrees with the `growthbook` Python SDK "
        f"{_fmt(m['agreement'] * 100)} % of the time.",
        f"- **Assignment cost.** Pricelab {_fmt(m['pricelab_us'], 'µs')} a visitor; the GrowthBook SDK "
        f"{_fmt(m['growthbook_us'], 'µs')} (its `run` with a user context), in-process, same machine.",
        f"- **A price edit reaches quotes at once.** {p['edits']} price edits through the API, each followed at once "
        f"by a quote from both web workers: {m['stale_quotes']} stale quotes out of {m['quotes_after_edits']} "
        f"(GrowthBook SDKs refresh cached features on a TTL or over a stream).",
    ]


def _plot(runs: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    fig.suptitle("Pricelab hot paths against their baselines (same machine, same run)")
    if "quote" in runs:
        m = runs["quote"]["measurements"]
        ax = axes[0][0]
        values = [m["bare_throughput"]["per_second_median"], m["quote_throughput"]["per_second_median"]]
        ax.bar(["bare Django", "quote"], values, color=["#999999", "#2a6fdb"])
        ax.set_title(f"Quote: requests/s ({m['ratio'] * 100:.0f} % of bare)")
        ax.axhline(values[0] * 0.5, color="#d33", linestyle="--", linewidth=1, label="target: 50 % of bare")
        ax.legend(loc="upper right", fontsize=8)
    if "ingest" in runs:
        m = runs["ingest"]["measurements"]
        ax = axes[0][1]
        values = [m["copy_rows_per_second"], m["api_events_per_second"]]
        ax.bar(["raw COPY", "POST /events/"], values, color=["#999999", "#2a6fdb"])
        ax.axhline(values[0] * 0.25, color="#d33", linestyle="--", linewidth=1, label="target: 25 % of COPY")
        ax.set_title(f"Ingestion: rows/s ({m['ratio'] * 100:.0f} % of COPY)")
        ax.legend(loc="upper right", fontsize=8)
    if "fanout" in runs:
        m = runs["fanout"]["measurements"]
        ax = axes[1][0]
        labels = ["p50", "p99", "max"]
        x = range(len(labels))
        for offset, (side, color, name) in enumerate(
            (("bare", "#999999", "bare Channels"), ("product", "#2a6fdb", "Pricelab feed"))
        ):
            values = [m[side][f"{k}_ms"] for k in labels]
            ax.bar([i + offset * 0.4 for i in x], values, width=0.4, color=color, label=name)
        ax.axhline(500, color="#d33", linestyle="--", linewidth=1, label="target: p99 < 500 ms")
        ax.set_xticks([i + 0.2 for i in x], labels)
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        ax.set_title(f"Fan-out to {runs['fanout']['params']['clients']:,} clients: time to each client")
        ax.legend(fontsize=8)
    if "scale" in runs:
        m = runs["scale"]["measurements"]
        ax = axes[1][1]
        rows = [u["rows"] for u in m["usage_rollup"].values()]
        series = (
            ("usage rollup", [u["rollup_ms"] for u in m["usage_rollup"].values()]),
            ("results, computed", [r["compute_ms"] for r in m["results"].values()]),
            ("results API answer", [r["api_ms"] for r in m["results"].values()]),
        )
        for name, values in series:
            ax.plot(rows, values, marker="o", label=name)
        first = series[0][1][0]
        ax.plot(rows, [first * r / rows[0] for r in rows], color="#bbbbbb", linestyle=":", label="linear")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows")
        ax.set_ylabel("ms")
        ax.set_title("Scale: time against rows")
        ax.legend(fontsize=8)
    for ax in [a for row in axes for a in row]:
        if not ax.has_data():
            ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(runs: dict[str, dict[str, Any]], image: str) -> str:
    lines = [
        "# Benchmarks",
        "",
        "The hot paths measured against the bare framework, each figure beside its baseline from the same run, so "
        "that the ratio holds on a noisy machine. Rerun everything with `make bench` (PostgreSQL and Redis as in "
        "the README; `wrk` from your package manager; 7 to 11 minutes on 2 cores), and this page and its plot are written "
        "again from `bench/results/*.json`. `make bench-smoke` runs a tiny version of each script in a minute or two "
        "(CI does), and `python -m bench.<name> --set NAME=VALUE` changes one size.",
        "",
        "## Machine",
        "",
        *_machine(runs),
        "",
        "## Summary",
        "",
        *_summary(runs),
        "",
        f"![Benchmarks]({image})",
        "",
    ]
    sections = {
        "quote": _quote,
        "ingest": _ingest,
        "fanout": _fanout,
        "scale": _scale,
        "growthbook": _growthbook,
    }
    for name in ORDER:
        if name in runs:
            lines += [*sections[name](runs[name]), ""]
            notes = runs[name].get("notes") or []
            lines += [*(f"> {note}" for note in notes), *([""] if notes else [])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="report on (and check) the smoke run's files")
    args = parser.parse_args()
    folder = common.RESULTS / "smoke" if args.smoke else common.RESULTS
    runs = load(folder)
    if args.smoke:
        missing = [name for name in ORDER if name not in runs]
        if missing:
            raise Malformed(f"no smoke results for {', '.join(missing)}")
    out = folder if args.smoke else common.ROOT / "docs"
    out.mkdir(parents=True, exist_ok=True)
    _plot(runs, out / "benchmarks.png")
    (out / "BENCHMARKS.md").write_text(render(runs, "benchmarks.png"))
    print(f"report: wrote {(out / 'BENCHMARKS.md').relative_to(common.ROOT)} and benchmarks.png")


if __name__ == "__main__":
    main()
