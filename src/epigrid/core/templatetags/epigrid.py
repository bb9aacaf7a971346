from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def duty_label(value):
    from epigrid.accounts.choices import Duty

    try:
        return Duty(value).label
    except ValueError:
        return value


@register.filter
def action_label(value):
    from epigrid.core.labels import ACTION_LABELS

    return ACTION_LABELS.get(value, value)
