"""Readable names of audit actions for timelines; each app registers its own in AppConfig.ready."""

ACTION_LABELS: dict[str, object] = {}


def register_action_labels(labels: dict[str, object]) -> None:
    ACTION_LABELS.update(labels)
