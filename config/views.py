"""The site's landing page: after logging in, the main job — posts and the images they still need."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from blogimages.integration import get_post_model
from blogimages.selectors import post_images_overview

PER_PAGE = 20


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    posts = get_post_model()._default_manager.all()
    page = Paginator(posts, PER_PAGE).get_page(request.GET.get("page"))
    overview = post_images_overview(page.object_list)
    context = {
        "page": page, "overview": overview, "nav": "home",
        "needing": sum(1 for row in overview if row.missing),
    }
    return render(request, "home.html", context)
