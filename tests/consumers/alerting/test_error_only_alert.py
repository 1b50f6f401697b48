"""A day with features that could not be checked, and no drift, still sends its e-mail (once):
the team must learn that the check was blind on those features."""

from __future__ import annotations

import pytest

from scorestream.consumers.alerting.delivery import AlertDelivery
from scorestream.consumers.clickhouse import apply_migrations, make_client
from scorestream.contract import AlertMessage
from scorestream.settings import Settings


@pytest.mark.integration
def test_an_alert_with_errors_but_no_drift_is_emailed_once(settings: Settings) -> None:
    client = make_client(settings.clickhouse)
    try:
        apply_migrations(client, settings.clickhouse.database)
        alert = AlertMessage(
            "daily:2026-07-14T00:00:cancer@v1",
            "daily",
            "2026-07-14T00:00:00",
            "2026-07-15T00:00:00",
            "v1",
            3000,
            30,
            None,
            [],
            errored=[{"feature": "mean_radius", "error": "bin positions must be non-decreasing"}],
            model_name="cancer",
        )
        delivery = AlertDelivery(settings, client)

        assert delivery.deliver(alert) is True
        assert delivery.log.delivered(alert.alert_id)
        assert delivery.deliver(alert) is False  # never twice
    finally:
        client.disconnect()
