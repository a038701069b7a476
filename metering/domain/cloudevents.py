"""CloudEvents 1.0 (JSON format) to usage event items. Pure.

A usage CloudEvent:

    {"specversion": "1.0", "id": "u-1", "source": "//dns.example/zones",
     "type": "dns.queries", "subject": "adventure", "time": "2026-03-02T10:00:00Z",
     "datacontenttype": "application/json",
     "data": {"metric": "dns.queries", "value": "1200", "attributes": {"zone": "a.example"}}}

`id` is the usage event id (idempotent per provider), `time` its instant, the
project is `data.project` or else `subject`, the metric `data.metric` or else
`type`. `specversion` "1.0", `id`, `source` and `type` are required (CloudEvents
core attributes); what is missing is refused with the CloudEvents name.
"""

from typing import Any

SPECVERSION = "1.0"
ERR_NOT_OBJECT = "a CloudEvent must be a JSON object"
ERR_REQUIRED = "is required (CloudEvents core attribute)"
ERR_SPECVERSION = "must be \"1.0\""
ERR_DATA = "must be a JSON object with metric, value and attributes"
# Items carry the conversion's own refusals under this key (never a field of an event).
CLOUDEVENT_ERRORS = "_cloudevent_errors"


def cloudevent_to_item(event: Any) -> Any:
    """The usage item of one CloudEvent; refusals are kept under CLOUDEVENT_ERRORS."""
    if not isinstance(event, dict):
        return event  # refused by the ingestion as "not an object"
    errors: dict[str, list[str]] = {}
    if event.get("specversion") is None:
        errors["specversion"] = [ERR_REQUIRED]
    elif event.get("specversion") != SPECVERSION:
        errors["specversion"] = [ERR_SPECVERSION]
    for name in ("id", "source", "type"):
        if not event.get(name):
            errors[name] = [ERR_REQUIRED]
    data = event.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        errors["data"] = [ERR_DATA]
        data = {}
    item = {
        "event_id": event.get("id"),
        "metric": data.get("metric", event.get("type")),
        "project": data.get("project", event.get("subject")),
        "occurred_at": event.get("time"),
        "value": data.get("value"),
        "attributes": data.get("attributes"),
    }
    if errors:
        item[CLOUDEVENT_ERRORS] = errors
    return item
