from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def action_label(value):
    from epigrid.core.labels import action_label

    return action_label(value)
