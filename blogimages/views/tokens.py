"""Each user's own API tokens: list, create (the raw token shown once), name and revoke."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from .. import tokens
from ..models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="What it is for, e.g. 'static site build'.")
    expires_in_days = forms.IntegerField(required=False, min_value=1, max_value=3650, label="Expires after (days)",
                                         help_text="Blank: never expires.")


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    context = {"form": form, "tokens": tokens.tokens_of(request.user), "raw_token": None}
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires_at = timezone.now() + dt.timedelta(days=days) if days else None
        token, raw = tokens.issue_token(user=request.user, by=request.user, name=form.cleaned_data["name"],
                                        expires_at=expires_at)
        context.update(raw_token=raw, new_token=token, form=TokenForm(), tokens=tokens.tokens_of(request.user))
        response = TemplateResponse(request, "blogimages/tokens.html", context, status=201)
        response["Cache-Control"] = "no-store"  # the one page that shows the raw token
        return response
    return TemplateResponse(request, "blogimages/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    # Another user's token is a 404 here: this page lists only one's own.
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    tokens.revoke_token(token, by=request.user)
    messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect("blogimages:token_list")
