"""Helpers for server-rendered pages: turn domain errors into pages, paginate."""

import functools

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from .errors import DomainError, NotFound


def domain_errors(view):
    """A NotFound becomes a 404; any other refusal re-renders with its message and a 4xx."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.render()) from None
        except DomainError as exc:
            messages.error(request, exc.render())
            return render(request, "core/refused.html", {"error": exc}, status=exc.status)

    return wrapper


def paginate(request, queryset, per_page: int = 50):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))
