"""Readable names of audit actions for timelines: each app contributes its own through the
"action_labels" extension point (see core.extensions)."""

from functools import cache

from . import extensions


@cache
def _labels() -> dict:
    merged: dict = {}
    for labels in extensions.get("action_labels"):
        merged.update(labels)
    return merged


def action_label(action: str):
    return _labels().get(action, action)
