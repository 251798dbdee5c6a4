"""A small weather service, the one "Testing your service" tests.

Every ten minutes it reads the current weather over HTTP and stores it; every morning at six it
posts a report of what it stored to a webhook; ten minutes after each reading it publishes an
MQTT alert when it is hot. ``build_flow`` takes every address (and, optionally, the storage) as
an argument, so a test gives it local servers and a stand-in.

    python examples/testing/my_service.py   # against the real endpoints, until Ctrl-C
"""

from __future__ import annotations

from typing import Any

from weirflow import FlowBuilder, Storage

HOT = 30.0


def reading(answer: dict[str, Any]) -> dict[str, Any]:
    """One stored row per answer of the weather API."""
    return {"city": answer["name"], "temperature": float(answer["main"]["temp"])}


def daily_report(db_connectors: dict[str, Storage]) -> dict[str, Any] | None:
    rows = db_connectors["weather"].load()
    if not rows:
        return None  # nothing to report: nothing is sent
    temperatures = [row["temperature"] for row in rows]
    return {
        "readings": len(rows),
        "mean": round(sum(temperatures) / len(rows), 2),
        "max": max(temperatures),
    }


def heat_alert(db_connectors: dict[str, Storage]) -> dict[str, Any] | None:
    rows = db_connectors["weather"].load()
    if rows and rows[-1]["temperature"] > HOT:
        return {"alert": "heat", **rows[-1]}
    return None


def build_flow(
    weather_url: str,
    webhook_url: str,
    broker: str = "localhost",
    port: int = 1883,
    storage: Storage | None = None,
) -> FlowBuilder:
    builder = FlowBuilder()
    weather = (
        builder.add_pipeline("weather", timedelta_minutes=10)
        .with_http_connector(source=weather_url)
        .with_core_logic(reading)
    )
    if storage is None:
        weather.with_storage("jsonl", path="data/weather.jsonl")
    else:
        weather.with_storage(storage)
    builder.add_pipeline("report", cron="0 6 * * *").with_core_logic(daily_report).send(
        "http_post", destination=webhook_url
    )
    builder.add_pipeline("alerts", timedelta_minutes=10, delay_seconds=30).with_core_logic(
        heat_alert
    ).send("mqtt", destination=broker, port=port, topic="alerts/heat")
    return builder


if __name__ == "__main__":
    build_flow(
        "https://api.example.com/weather?q=Seville", "https://hooks.example.com/weather"
    ).build().launch_flow()
