from django.urls import path  # noqa: F401

app_name = "posts"

# The post list and the develop screen are added here.
urlpatterns: list = []
