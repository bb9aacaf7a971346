from django.contrib.auth import login, logout
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from epigrid.core.errors import DomainError
from epigrid.core.views import safe_next

from . import services
from .forms import LoginForm


def login_view(request):
    form = LoginForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_authenticate(
                request=request,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                remote_addr=request.META.get("REMOTE_ADDR"),
            )
        except DomainError as exc:
            error = exc.render()
        else:
            login(request, user)
            return redirect(safe_next(request, "home"))
    return render(request, "accounts/login.html", {"form": form, "error": error}, status=400 if error else 200)


@require_POST
def logout_view(request):
    logout(request)
    return redirect("login")
