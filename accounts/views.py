"""Server-rendered pages of accounts."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.selectors import api_key_list_for_user


@login_required
def home(request):
    return render(
        request, "accounts/home.html", {"api_keys": api_key_list_for_user(user=request.user)}
    )
