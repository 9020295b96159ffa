from django.urls import path  # noqa: F401

app_name = "blogimages"

# The author's pages (prompt library, tester, compare, gallery) are added here.
urlpatterns: list = []
