from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def action_label(value):
    from epigrid.core.labels import action_label

    return action_label(value)


@register.filter
def in_language(error):
    """A stored refusal ({message, messages}: a job's error, a row of it) in the reader's language."""
    from django.utils import translation

    if not error:
        return ""
    return (error.get("messages") or {}).get(translation.get_language(), error.get("message", ""))
