"""A URLconf whose page raises: an unhandled error as a bug would cause it."""

from django.urls import path


def broken(request):
    raise RuntimeError("a bug in a page")


urlpatterns = [path("boom", broken)]
