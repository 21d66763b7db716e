"""CloudWatch dashboards with the console's Lambda graphs, and the data behind each widget."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from helpers.clients import Backend
from helpers.lambda_metrics import LAMBDA_METRICS, METRIC_UNITS, metric_series
from helpers.naming import ECOMMERCE_TABLE, Names

DASHBOARD = "demo-dynamodb-streams-monitoring"


def dashboard_name(names: Names) -> str:
    """The workshop's dashboard name, with the names' prefix."""
    return names.ecommerce_table.removesuffix(ECOMMERCE_TABLE) + DASHBOARD


def dashboard_body(backend: Backend, functions: Sequence[str]) -> dict[str, Any]:
    """A CloudWatch dashboard with the console's Lambda graphs for ``functions``.

    Six metric widgets (invocations, errors, duration, throttles, iterator age,
    concurrent executions), two per row, one line per function.
    """
    widgets = []
    for i, (metric, stat) in enumerate(LAMBDA_METRICS.items()):
        widgets.append(
            {
                "type": "metric",
                "x": 12 * (i % 2),
                "y": 6 * (i // 2),
                "width": 12,
                "height": 6,
                "properties": {
                    "title": f"{metric} ({METRIC_UNITS[metric]})",
                    "region": backend.region,
                    "view": "timeSeries",
                    "stat": stat,
                    "period": 60,
                    "metrics": [
                        ["AWS/Lambda", metric, "FunctionName", function] for function in functions
                    ],
                },
            }
        )
    return {"widgets": widgets}


def put_dashboard(backend: Backend, name: str, body: Mapping[str, Any]) -> list[str]:
    """Create or replace a dashboard; returns CloudWatch's validation messages (none is good)."""
    response = backend.client("cloudwatch").put_dashboard(
        DashboardName=name, DashboardBody=json.dumps(body)
    )
    return [m.get("Message", "") for m in response.get("DashboardValidationMessages", [])]


def get_dashboard(backend: Backend, name: str) -> dict[str, Any]:
    """A dashboard's body, parsed."""
    response = backend.client("cloudwatch").get_dashboard(DashboardName=name)
    return json.loads(response["DashboardBody"])


def dashboard_series(
    backend: Backend,
    body: Mapping[str, Any],
    *,
    since: datetime | float,
    period: int | None = None,
) -> list[tuple[str, pd.DataFrame]]:
    """The data of each metric widget of a dashboard: ``(title, table)`` pairs.

    Each table has one column per function (``FunctionName`` dimension).
    """
    panels = []
    for widget in body.get("widgets", []):
        props = widget.get("properties", {})
        if widget.get("type") != "metric":
            continue
        columns = {}
        for line in props.get("metrics", []):
            _, metric, _, function = line[:4]
            frame = metric_series(backend, function, [metric], since=since, period=period)
            columns[function] = frame[metric]
        panels.append((props.get("title", ""), pd.DataFrame(columns)))
    return panels
