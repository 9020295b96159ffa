"""The public pages of blogimages, meant to be mounted at /boards/: a board shared by link.

    path("boards/", include("blogimages.public_urls"))   # -> /boards/s/<token>/
"""

from django.urls import path

from .views import boards

urlpatterns = [
    path("s/<str:token>/", boards.board_shared, name="board_shared"),
    path("s/<str:token>/<uuid:uid>/<str:kind>/", boards.board_shared_file, name="board_shared_file"),
]
