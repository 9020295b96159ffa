from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static as static_url
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from blogimages.views import media

from . import views

urlpatterns = [
    # The landing page after login: posts and the images they still need.
    path("", views.home, name="home"),
    # Pages without their own icon link (the admin, the API docs) make browsers ask for this.
    # Lazy: the manifest of collected static files may not exist yet when the URLs load (collectstatic).
    path("favicon.ico", RedirectView.as_view(url=lazy(static_url, str)("blogimages/favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("images/", include("blogimages.urls")),
    path("posts/", include("posts.urls")),
    path("", include("blogimages.api.urls")),
]
if settings.MEDIA_URL.startswith("/"):
    # Published renditions for everyone (and, in development without private media, every file).
    urlpatterns.append(path(settings.MEDIA_URL.lstrip("/") + "<path:name>", media.public, name="media"))
