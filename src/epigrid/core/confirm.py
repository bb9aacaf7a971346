"""The confirm step of an irreversible action on a page (docs/architecture.md "Rules of the house").

A form that confirms a case, records a positive result, revokes a pass, ends an assignment or an
order, or replaces a personal link posts first without `confirm`: the view answers with
`confirm_page`, which says what will follow and re-posts the same fields with `confirm=1`. Only
that second post acts, so a double click, a stale form or a script that skips the page does
nothing. The API is unchanged: an API call is its own confirmation.
"""

from django.shortcuts import render

from . import extensions

CONFIRM_FIELD = "confirm"


def confirmed(request) -> bool:
    """The POST comes from the confirm step (its "确认" button)."""
    return request.method == "POST" and request.POST.get(CONFIRM_FIELD) == "1"


def consequences(action: str, obj) -> list[str]:
    """What the cascades of other apps will do after `action` on `obj`, one sentence each, from
    the "consequences" extension point (the higher apps know what they add to a change)."""
    lines: list[str] = []
    for contribution in extensions.get("consequences"):
        lines.extend(str(line) for line in contribution(action, obj) or ())
    return lines


def confirm_page(request, *, title, question, consequences: list, button, cancel_url: str, action_url: str = ""):
    """The second step: the consequences and a "确认" button that re-posts the request's fields
    with `confirm=1` (to `action_url`, by default the URL posted to)."""
    fields = [
        (name, value)
        for name in request.POST
        if name not in ("csrfmiddlewaretoken", CONFIRM_FIELD)
        for value in request.POST.getlist(name)
    ]
    return render(
        request,
        "core/confirm.html",
        {
            "title": title,
            "question": question,
            "consequences": [str(line) for line in consequences],
            "button": button,
            "cancel_url": cancel_url,
            "action_url": action_url or request.get_full_path(),
            "fields": fields,
        },
    )
