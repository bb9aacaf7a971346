from django.contrib.auth import login, logout
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from epigrid.core.errors import DomainError
from epigrid.core.views import safe_next

from . import services
from .forms import LoginForm


def login_view(request):
    form = LoginForm(request.POST or None)
    error, status = None, 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_authenticate(
                request=request, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
            )
        except DomainError as exc:
            error, status = exc.render(), exc.status  # 400 wrong password, 429 locked
        else:
            login(request, user)
            return redirect(safe_next(request, "home"))
    return render(request, "accounts/login.html", {"form": form, "error": error}, status=status)


@require_POST
def logout_view(request):
    # Ends the session in the store too (flush), not only the cookie: a copied cookie stops working.
    logout(request)
    return redirect("login")
