"""Synthetic scored data for the dashboard previews and tests, and a chDB runner for it.

36 hours of a loan-scoring pipeline: scores (with a replayed batch and a model rollout;
the models part, other kinds and challengers, in :mod:`.sample_models`),
rejected records, per-minute drift bins in the reference-profile layout of
``scorestream.streams.drift.profile`` (``[underflow, deciles..., overflow, missing]`` for numerics,
``[categories..., other, missing]`` for categoricals), rolling drift statistics computed
from those bins every 10 minutes, two daily checks, and a few detector change points.
``income`` drifts upwards (and goes missing more often) from :data:`DRIFT_AT`, so the
later daily check flags it; the model score follows it a little.

Every table gets some rows twice, in a separate insert, the way an at-least-once replay
writes them: the dashboards must not count them twice. Everything is seeded, so the
previews and the tests see the same numbers on every run.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from scorestream.grafana.macros import ALL, QueryContext, expand

# The database the dashboards query; fixtures load into their own and rewrite the SQL.
from scorestream.grafana.panels import DATABASE

# The reasons the product itself gives: the preview must not show one it never emits.
from scorestream.streams.validation import REASONS

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(hours=36)
DRIFT_AT = START + timedelta(hours=6)
ROLLOUT_AT = START + timedelta(hours=20)  # model v2 takes over from v1 over two hours
INTERVAL_S = 1800  # what Grafana would pick for 36 h on a wide panel, give or take
SCORES_PER_MINUTE = 12
STATS_PER_MINUTE = 20
N_BINS = 10

NUMERIC = ("age", "income", "credit_score", "_score")
CATEGORICAL = {"region": ("north", "south", "east", "west")}
FEATURES = (*NUMERIC, *CATEGORICAL)
MISSING_RATE = {"credit_score": 0.04, "income": 0.01}

Row = dict[str, Any]


# --- values ----------------------------------------------------------------------------------
def _draw(rng: np.random.Generator, feature: str, n: int, drifted: bool) -> np.ndarray:
    if feature == "age":
        values = rng.normal(42, 12, n).clip(18, 90).round()
    elif feature == "income":
        values = rng.lognormal(np.log(52_000) + (0.35 if drifted else 0.0), 0.45, n)
    elif feature == "credit_score":
        values = rng.normal(680, 60, n).clip(300, 850).round()
    elif feature == "_score":
        values = rng.beta(2.0 + (0.6 if drifted else 0.0), 6.0, n)
    else:
        categories = CATEGORICAL[feature]
        weights = [0.3, 0.3, 0.2, 0.2]
        values = rng.choice(len(categories), n, p=weights).astype(float)
    # After the shift, income is also missing more often (a broken upstream form field).
    rate = MISSING_RATE.get(feature, 0.0) * (3 if drifted and feature == "income" else 1)
    missing = rng.random(n) < rate
    values[missing] = np.nan
    return values


def _fmt(value: float) -> str:
    return f"{value:.6g}"


@dataclass(frozen=True)
class Profile:
    """Bin layout of one feature, as streams.drift.profile writes it."""

    feature: str
    kind: str
    edges: np.ndarray  # numeric only
    labels: list[str]
    reference_counts: np.ndarray
    ref_mean: float
    ref_missing_rate: float
    sample: np.ndarray  # the reference values themselves

    def assign(self, values: np.ndarray) -> np.ndarray:
        missing = ~np.isfinite(values)
        if self.kind == "categorical":
            bins = np.where(missing, len(self.labels) - 1, np.nan_to_num(values)).astype(int)
            return bins
        k = len(self.edges) - 1
        inner = np.clip(np.searchsorted(self.edges, values, side="right"), 1, k)
        bins = np.where(values < self.edges[0], 0, inner)
        bins = np.where(values > self.edges[-1], k + 1, bins)
        return np.where(missing, k + 2, bins).astype(int)

    def count(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.assign(values), minlength=len(self.labels)).astype(np.int64)


def _profile(feature: str, rng: np.random.Generator) -> Profile:
    values = _draw(rng, feature, 20_000, drifted=False)
    finite = values[np.isfinite(values)]
    if feature in CATEGORICAL:
        labels = [*CATEGORICAL[feature], "other", "missing"]
        profile = Profile(
            feature,
            "categorical",
            np.array([]),
            labels,
            np.zeros(len(labels), np.int64),
            0.0,
            0.0,
            values,
        )
    else:
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, N_BINS + 1)))
        interior = [f"[{_fmt(a)}, {_fmt(b)})" for a, b in itertools.pairwise(edges)]
        interior[-1] = interior[-1][:-1] + "]"
        labels = [f"(-inf, {_fmt(edges[0])})", *interior, f"({_fmt(edges[-1])}, inf)", "missing"]
        profile = Profile(
            feature,
            "numeric",
            edges,
            labels,
            np.zeros(len(labels), np.int64),
            float(finite.mean()),
            0.0,
            values,
        )
    counts = profile.count(values)
    return Profile(
        feature,
        profile.kind,
        profile.edges,
        profile.labels,
        counts,
        profile.ref_mean,
        float(1 - finite.size / values.size),
        values,
    )


# --- drift statistics --------------------------------------------------------------------
def _psi(ref: np.ndarray, cur: np.ndarray) -> float:
    p = (ref + 0.5) / (ref + 0.5).sum()
    q = (cur + 0.5) / (cur + 0.5).sum()
    return float(np.sum((q - p) * np.log(q / p)))


def _js(ref: np.ndarray, cur: np.ndarray) -> float:
    p, q = ref / max(ref.sum(), 1), cur / max(cur.sum(), 1)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return float(np.sqrt(max((kl(p) + kl(q)) / 2, 0.0)))


def _level(psi: float) -> str:
    return "drift" if psi >= 0.25 else "warning" if psi >= 0.1 else "ok"


def _dt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Fixture:
    """Rows per table, plus the replayed rows inserted a second time."""

    tables: dict[str, list[Row]] = field(default_factory=dict)
    replays: dict[str, list[Row]] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    #: Ground truth for the tests: raw values per feature in the drifted period.
    truth: dict[str, np.ndarray] = field(default_factory=dict)


def build_fixture(seed: int = 7) -> Fixture:
    """Generate every table's rows (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    fixture = Fixture()
    fixture.profiles = {f: _profile(f, rng) for f in FEATURES}
    fixture.tables = {
        "scores": [],
        "rejected_records": [],
        "drift_stats": [],
        "drift_checks": [],
        "drift_events": [],
    }
    minutes = int((END - START).total_seconds() // 60)
    per_minute: dict[str, list[np.ndarray]] = {f: [] for f in FEATURES}
    drifted_values: dict[str, list[np.ndarray]] = {f: [] for f in FEATURES}
    for m in range(minutes):
        minute = START + timedelta(minutes=m)
        drifted = minute >= DRIFT_AT
        for feature in FEATURES:
            n = int(rng.poisson(STATS_PER_MINUTE))
            values = _draw(rng, feature, n, drifted and feature in ("income", "_score"))
            profile = fixture.profiles[feature]
            per_minute[feature].append(profile.count(values))
            if drifted:
                drifted_values[feature].append(values)
            # Two workers' partial rows per minute: they must be summed.
            for batch, part in enumerate(np.array_split(values, 2)):
                finite = part[np.isfinite(part)] if profile.kind == "numeric" else part[:0]
                fixture.tables["drift_stats"].append(
                    {
                        "minute": _dt(minute),
                        "feature": feature,
                        "kind": profile.kind,
                        "model_version": "v1",
                        "batch_id": f"{m}-{batch}",
                        "counts": profile.count(part).tolist(),
                        "count": int(part.size),
                        "missing": int((~np.isfinite(part)).sum()),
                        "sum": float(finite.sum()),
                        "sumsq": float((finite**2).sum()),
                        "emitted_at_ms": int((minute + timedelta(seconds=61)).timestamp() * 1000),
                    }
                )
    fixture.truth = {f: np.concatenate(v) for f, v in drifted_values.items()}
    # A change detector fires on the drifted features soon after the shift.
    for feature, delay, detector in (
        ("income", 9, "adwin"),
        ("income", 12, "page_hinkley"),
        ("_score", 25, "adwin"),
    ):
        minute = DRIFT_AT + timedelta(minutes=delay)
        detected = minute + timedelta(seconds=75)
        fixture.tables["drift_events"].append(
            {
                "detected_at": _dt(detected),
                "detected_at_ms": int(detected.timestamp() * 1000),
                "minute": _dt(minute),
                "feature": feature,
                "detector": detector,
                "value": float(np.round(rng.uniform(0.3, 0.6), 3)),
                "model_version": "v1",
                "event_id": f"{feature}-{detector}-{delay}",
            }
        )
    _add_checks(fixture, per_minute)
    _add_scores(fixture, rng, minutes)
    # Model names, the other model kinds and the challengers (their own generator).
    from scorestream.grafana.sample_models import add_models
    from scorestream.grafana.sample_performance import add_performance

    add_models(fixture)
    # A month of the loan model's history, its labels and its daily performance verdicts.
    add_performance(fixture)
    # A replay: the same rows again, later, in their own insert (their own parts).
    for table, rows in fixture.tables.items():
        step = max(len(rows) // 40, 1)
        fixture.replays[table] = rows[::step]
    return fixture


def _add_checks(fixture: Fixture, per_minute: Mapping[str, Sequence[np.ndarray]]) -> None:
    checks = fixture.tables["drift_checks"]

    rng = np.random.default_rng(1)

    def check(kind: str, feature: str, start: datetime, end: datetime, checked_at: datetime) -> Row:
        profile = fixture.profiles[feature]
        first = int((start - START).total_seconds() // 60)
        last = int((end - START).total_seconds() // 60)
        window = per_minute[feature][max(first, 0) : max(last, 0)]
        if window:
            counts = np.sum(window, axis=0)
        else:  # before the fixture's data: a day like the reference
            counts = profile.count(_draw(rng, feature, 28_000, drifted=False))
        ref = profile.reference_counts
        psi, js = _psi(ref, counts), _js(ref, counts)
        n_cur = int(counts.sum())
        statistic = psi * n_cur
        p_value = float(np.exp(-statistic / 20))
        cur_mean = 0.0
        if profile.kind == "numeric" and counts[1:-2].sum():
            middles = (profile.edges[:-1] + profile.edges[1:]) / 2
            cur_mean = float(np.average(middles, weights=counts[1:-2]))
        return {
            "check_kind": kind,
            "period_start": _dt(start),
            "period_end": _dt(end),
            "checked_at": _dt(checked_at),
            "feature": feature,
            "kind": profile.kind,
            "model_version": "v1",
            "n_reference": int(ref.sum()),
            "n_current": n_cur,
            "test": "ks" if profile.kind == "numeric" else "chi2",
            "statistic": statistic,
            "p_value": p_value,
            "p_adjusted": min(p_value * len(FEATURES), 1.0),
            "psi": psi,
            "js_distance": js,
            "wasserstein": psi / 3,
            "ref_mean": profile.ref_mean,
            "cur_mean": cur_mean,
            "ref_missing_rate": profile.ref_missing_rate,
            "cur_missing_rate": float(counts[-1] / max(n_cur, 1)),
            "level": _level(psi),
            "drifted": int(_level(psi) == "drift" and p_value < 0.05),
            "reference_counts": ref.tolist(),
            "current_counts": counts.tolist(),
            "bin_labels": profile.labels,
        }

    for feature in FEATURES:
        for day_end in (START, START + timedelta(days=1)):
            checks.append(
                check(
                    "daily",
                    feature,
                    day_end - timedelta(days=1),
                    day_end,
                    day_end + timedelta(minutes=15),
                )
            )
        at = START + timedelta(minutes=10)
        while at <= END:
            for kind, hours in (("rolling_1h", 1), ("rolling_24h", 24)):
                checks.append(check(kind, feature, at - timedelta(hours=hours), at, at))
            at += timedelta(minutes=10)


def _add_scores(fixture: Fixture, rng: np.random.Generator, minutes: int) -> None:
    scores, rejected = fixture.tables["scores"], fixture.tables["rejected_records"]
    offset = 0
    for m in range(minutes):
        minute = START + timedelta(minutes=m)
        drifted = minute >= DRIFT_AT
        rollout = min(max((minute - ROLLOUT_AT).total_seconds() / 7200, 0.0), 1.0)
        load = 1.0 + 0.6 * np.sin(2 * np.pi * (m / 1440 - 0.3))  # a daily traffic cycle
        for _ in range(int(rng.poisson(SCORES_PER_MINUTE * load))):
            offset += 1
            event = minute + timedelta(seconds=float(rng.uniform(0, 60)))
            latency = int(min(rng.lognormal(np.log(45), 0.6), 20_000))
            scored = event + timedelta(milliseconds=latency)
            version = "v2" if rng.random() < rollout else "v1"
            score = float(rng.beta(2.6 if drifted else 2.0, 6.0))
            scores.append(
                {
                    "id": f"rec-{offset}",
                    "event_time": _dt(event),
                    "event_time_ms": int(event.timestamp() * 1000),
                    "scored_at": _dt(scored),
                    "scored_at_ms": int(scored.timestamp() * 1000),
                    "model_name": "loan-default",
                    "model_version": version,
                    "score": score,
                    "label": "default" if score >= 0.5 else "repaid",
                    "latency_ms": latency,
                    "source_partition": offset % 4,
                    "source_offset": offset // 4,
                }
            )
            if rng.random() < 0.012:
                rejected_at = event + timedelta(milliseconds=5)
                # One uniform draw, as before, so the rest of the data stays the same.
                reason = str(rng.choice(REASONS, p=[1 / len(REASONS)] * len(REASONS)))
                rejected.append(
                    {
                        "id": f"bad-{offset}",
                        "reason": reason,
                        "field": "",
                        "message": f"{reason.replace('_', ' ')} in record bad-{offset}",
                        "source_topic": "records",
                        "source_partition": offset % 4,
                        "source_offset": offset // 4,
                        "ingested_at": _dt(event),
                        "rejected_at": _dt(rejected_at),
                        "rejected_at_ms": int(rejected_at.timestamp() * 1000),
                        "payload": json.dumps({"id": f"bad-{offset}", "income": "n/a"}),
                    }
                )


# --- schema and loading ------------------------------------------------------------------
def rows_in_insert_order(fixture: Fixture) -> Iterator[tuple[str, list[Row]]]:
    """(table, rows) batches: every table once, then the replayed rows again."""
    yield from fixture.tables.items()
    yield from fixture.replays.items()


def unique_ids(fixture: Fixture) -> int:
    """How many distinct records were scored in the 36 hours (what a replay must not
    inflate); the performance history before them is left out."""
    return len({row["id"] for row in in_window(fixture.tables["scores"])})


def in_window(rows: Sequence[Row]) -> list[Row]:
    """The scores of the sample's 36 hours (``START`` to ``END``, by ``scored_at``)."""
    return [row for row in rows if _dt(START) <= row["scored_at"] <= _dt(END)]


class ChdbExecutor:
    """clickhouse-driver's ``execute`` on a chDB session, for the sink's migration runner."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def execute(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        if isinstance(params, list):  # INSERT ... (columns) VALUES with row tuples
            columns = [c.strip() for c in query[query.index("(") + 1 : query.index(")")].split(",")]
            body = "\n".join(
                json.dumps(dict(zip(columns, row, strict=True)), default=str) for row in params
            )
            self.session.query(f"{query.rsplit('VALUES', 1)[0]} FORMAT JSONEachRow\n{body}")
            return []
        if params:
            raise NotImplementedError("query parameters")
        raw = self.session.query(query, "JSONCompact")
        text = raw.data() if raw is not None else ""
        return [tuple(row) for row in json.loads(text)["data"]] if text.strip() else []


class ChdbDatabase:
    """The sink's migrations applied to an in-process chDB session, loaded with the fixture."""

    def __init__(self, fixture: Fixture, database: str = "scoring_test") -> None:
        from chdb import session

        from scorestream.consumers.clickhouse import apply_migrations

        self.database = database
        self.session = session.Session()
        self.session.query("SET session_timezone = 'UTC'")
        self.session.query("SET output_format_json_quote_64bit_integers = 0")
        apply_migrations(ChdbExecutor(self.session), database)
        for table, rows in rows_in_insert_order(fixture):
            body = "\n".join(json.dumps(row) for row in rows)
            self.session.query(f"INSERT INTO {database}.{table} FORMAT JSONEachRow\n{body}")

    def query(self, sql: str) -> Result:
        """Run a query; columns with their ClickHouse types, and rows."""
        raw = self.session.query(sql, "JSONCompact")
        data = json.loads(raw.data())
        return Result(
            [c["name"] for c in data["meta"]],
            [c["type"] for c in data["meta"]],
            [list(r) for r in data["data"]],
        )

    def close(self) -> None:
        self.session.close()


@dataclass
class Result:
    """A query result in the shape Grafana's data frames take."""

    columns: list[str]
    types: list[str]
    rows: list[list[Any]]

    def column(self, name: str) -> list[Any]:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


def is_time(ch_type: str) -> bool:
    return ch_type.startswith(("DateTime", "Date"))


def is_number(ch_type: str) -> bool:
    core = re.sub(r"^(Nullable|LowCardinality)\((.*)\)$", r"\2", ch_type)
    return bool(re.match(r"^(U?Int\d+|Float\d+|Decimal)", core))


def is_string(ch_type: str) -> bool:
    core = re.sub(r"^(Nullable|LowCardinality)\((.*)\)$", r"\2", ch_type)
    return core.startswith(("String", "FixedString", "Enum"))


def parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def to_series(result: Result) -> dict[str, tuple[list[datetime], list[float]]]:
    """Long-to-wide like the plugin's time-series format: one series per label value."""
    time_index = result.types.index(next(t for t in result.types if is_time(t)))
    labels = [i for i, t in enumerate(result.types) if is_string(t)]
    values = [i for i, t in enumerate(result.types) if is_number(t) and i != time_index]
    series: dict[str, tuple[list[datetime], list[float]]] = {}
    for row in result.rows:
        label = " ".join(str(row[i]) for i in labels)
        for i in values:
            name = label if labels else result.columns[i]
            if labels and len(values) > 1:
                name = f"{result.columns[i]} {label}"
            times, points = series.setdefault(name, ([], []))
            times.append(parse_time(row[time_index]))
            points.append(float(row[i]) if row[i] is not None else float("nan"))
    return series


def in_database(sql: str, database: str) -> str:
    """Point a dashboard query at another database than the production one."""
    return re.sub(rf"\b{DATABASE}\.", f"{database}.", sql)


def time_range(dashboard: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """The range a dashboard's queries run on here: the sample's 36 hours, or, for a
    dashboard that opens on several days (``now-30d``), those days up to ``END`` (the
    sample's "now")."""
    days = re.fullmatch(r"now-(\d+)d", dashboard.get("time", {}).get("from", ""))
    if days and int(days.group(1)) > 1:
        return END - timedelta(days=int(days.group(1))), END
    return START, END


def dashboard_context(
    dashboard: Mapping[str, Any], db: ChdbDatabase, choices: Mapping[str, Any] | None = None
) -> QueryContext:
    """Variables resolved like Grafana does on load: query variables run in order, a
    multi-value variable with All starts at All, others at their first option, unless
    ``choices`` picks a value."""
    values: dict[str, Any] = {}
    options: dict[str, list[str]] = {}
    start, end = time_range(dashboard)
    for var in dashboard["templating"]["list"]:
        name = var["name"]
        if var["type"] == "custom":
            options[name] = [o["value"] for o in var["options"]]
            default: Any = var["current"]["value"]
        else:
            ctx = QueryContext(start, end, INTERVAL_S, values, options)
            result = db.query(in_database(expand(var["query"], ctx), db.database))
            options[name] = _sorted_like_grafana([str(row[0]) for row in result.rows], var)
            # Without any option (a new install) Grafana's value is empty.
            first = options[name][0] if options[name] else ""
            default = [ALL] if var["includeAll"] else first
        values[name] = (choices or {}).get(name, default)
    return QueryContext(start, end, INTERVAL_S, values, options)


def _sorted_like_grafana(options: list[str], variable: Mapping[str, Any]) -> list[str]:
    """A query variable's options in the order Grafana shows them (its ``sort``)."""
    order = variable.get("sort", 0)
    if order == 0:  # disabled: the query's order
        return options
    if order in (1, 2):  # alphabetical, ascending or descending
        return sorted(options, reverse=order == 2)
    raise NotImplementedError(f"variable sort {order} is not modelled here")
