"""API tokens: listed and revoked here; only a superuser creates one for another user."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from .. import tokens
from ..forms_admin import ApiTokenCreateForm
from ..models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are listed and revoked here; only a hash is stored. Creating one shows the
    raw token once, on the page that answers the form (never stored, never in a message)."""

    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "expires_at", "revoked_at", "active")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), ("expires_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    exclude = ("token_hash",)
    actions = ["revoke_selected"]

    @admin.display(description="Active", boolean=True)
    def active(self, obj: ApiToken) -> bool:
        return obj.is_active

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiTokenCreateForm(request.POST or None, requested_by=request.user)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "form": form,
                   "title": "Create an API token", "media": self.media + form.media}
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            token, raw = tokens.issue_token(user=data["user"], by=request.user, name=data["name"],
                                            expires_at=data["expires_at"])
            self.log_addition(request, token, [{"added": {}}])
            context.update(title="API token created", token=token, raw_token=raw)
            response = TemplateResponse(request, "admin/blogimages/apitoken/created.html", context)
            response["Cache-Control"] = "no-store"
            return response
        return TemplateResponse(request, "admin/blogimages/apitoken/create.html", context)

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request, queryset):
        active = list(queryset.filter(revoked_at__isnull=True))
        for token in active:
            tokens.revoke_token(token, by=request.user)
        self.message_user(request, f"{len(active)} token(s) revoked.", messages.SUCCESS)
