from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.templatetags.static import static as static_url
from django.urls import include, path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    # The landing page after login: posts and the images they still need.
    path("", views.home, name="home"),
    # Pages without their own icon link (the admin, the API docs) make browsers ask for this.
    path("favicon.ico", RedirectView.as_view(url=static_url("blogimages/favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("images/", include("blogimages.urls")),
    path("posts/", include("posts.urls")),
    # Boards shared by link: public, read-only (`/boards/s/<token>/`).
    path("boards/", include("blogimages.public_urls")),
    path("", include("blogimages.api.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
