"""The scorestream dashboards' uids and the URL of a dashboard over a time range.

One place for the addresses that the dashboards (their uids, the table link from the drift
overview to a feature's detail) and the alert e-mail (its link to the day that drifted)
must agree on: renaming a dashboard here renames it everywhere.

Dependency-free on purpose: the alert consumer imports it in the application image, which
has none of the dashboard builders.

>>> url = dashboard_url("http://grafana:3000/", DRIFT_OVERVIEW,
...                     start=datetime(2026, 3, 1), end=datetime(2026, 3, 2))
>>> for part in url.split("?"):
...     print(part)
http://grafana:3000/d/scorestream-drift-overview/drift-overview
from=1772323200000&to=1772409600000
>>> dashboard_url("", FEATURE_DETAIL, variables={"feature": "${__value.raw}"},
...               extra="${__url_time_range}")
'/d/scorestream-feature-detail/feature-detail?var-feature=${__value.raw}&${__url_time_range}'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

__all__ = [
    "DASHBOARDS",
    "DRIFT_OVERVIEW",
    "FEATURE_DETAIL",
    "MODEL_COMPARISON",
    "MODEL_PERFORMANCE",
    "PIPELINE_HEALTH",
    "SCORING_OPERATIONS",
    "DashboardRef",
    "dashboard_url",
]


@dataclass(frozen=True)
class DashboardRef:
    """A provisioned dashboard: its uid (stable across renames) and URL slug."""

    uid: str
    slug: str

    @property
    def path(self) -> str:
        """The dashboard's path below Grafana's root URL."""
        return f"/d/{self.uid}/{self.slug}"


DRIFT_OVERVIEW = DashboardRef("scorestream-drift-overview", "drift-overview")
FEATURE_DETAIL = DashboardRef("scorestream-feature-detail", "feature-detail")
SCORING_OPERATIONS = DashboardRef("scorestream-scoring-operations", "scoring-operations")
MODEL_COMPARISON = DashboardRef("scorestream-model-comparison", "model-comparison")
MODEL_PERFORMANCE = DashboardRef("scorestream-model-performance", "model-performance")
PIPELINE_HEALTH = DashboardRef("scorestream-pipeline-health", "pipeline-health")
DASHBOARDS: tuple[DashboardRef, ...] = (
    DRIFT_OVERVIEW,
    FEATURE_DETAIL,
    SCORING_OPERATIONS,
    MODEL_COMPARISON,
    MODEL_PERFORMANCE,
    PIPELINE_HEALTH,
)

# Characters left as they are in query values: Grafana's own template syntax (${...}) must
# reach Grafana unencoded when the URL is a link inside a dashboard.
_SAFE = "${}:,"


def _grafana_time(moment: datetime | str) -> str:
    # A string is passed as it is (Grafana's relative times such as "now-24h"); a datetime
    # becomes epoch milliseconds, naive datetimes being UTC already (as in the drift check's
    # periods). Not ISO 8601: Grafana 12 reads from=2026-01-11T00:00:00Z as the number 2026,
    # in milliseconds, and opens the dashboard on 1970.
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(round(moment.timestamp() * 1000))


def dashboard_url(
    base_url: str,
    dashboard: DashboardRef,
    *,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    variables: Mapping[str, str | Sequence[str]] | None = None,
    extra: str | None = None,
) -> str:
    """The URL of ``dashboard`` on the Grafana at ``base_url`` ("" for a relative link).

    ``start``/``end`` set the time range (``from``/``to``, epoch milliseconds for a
    datetime); each of ``variables`` becomes
    ``var-NAME=VALUE`` (repeated for a list: a multi-value variable); ``extra`` is appended
    as it is, for Grafana's own URL macros such as ``${__url_time_range}``.
    """
    params: list[str] = []
    if start is not None:
        params.append(f"from={quote(_grafana_time(start), safe=_SAFE)}")
    if end is not None:
        params.append(f"to={quote(_grafana_time(end), safe=_SAFE)}")
    for name, value in (variables or {}).items():
        values = [value] if isinstance(value, str) else list(value)
        params += [f"var-{quote(name, safe='')}={quote(v, safe=_SAFE)}" for v in values]
    if extra:
        params.append(extra)
    url = base_url.rstrip("/") + dashboard.path
    return f"{url}?{'&'.join(params)}" if params else url
