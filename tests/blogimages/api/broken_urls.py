"""A URLconf whose /v1 view raises: what a bug outside the views' own error handling looks like."""

from django.urls import path


def broken(request):
    raise RuntimeError("a bug")


urlpatterns = [path("v1/models", broken)]
