"""The editors' page for the blog's style guide (the admin has it too, with reference images)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from ..models import StyleGuide


class StyleGuideForm(forms.ModelForm):
    class Meta:
        model = StyleGuide
        fields = ("name", "enabled", "style_words", "palette", "mood", "never_show")


@login_required
@permission_required("blogimages.change_imageoutput", raise_exception=True)
@require_http_methods(["GET", "POST"])
def style_guide_edit(request: HttpRequest) -> HttpResponse:
    guide = StyleGuide.objects.order_by("-enabled", "-updated_at").first() or StyleGuide(enabled=False)
    form = StyleGuideForm(request.POST or None, instance=guide)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Style guide saved; it applies to the next images made for posts."
                         if form.instance.enabled else "Style guide saved (switched off).")
        return redirect("blogimages:style_guide")
    return render(request, "blogimages/style_guide.html", {"form": form, "guide": guide, "nav": "style"})
