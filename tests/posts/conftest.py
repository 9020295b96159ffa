# The develop screen's tests share the page tests' users and post.
from tests.blogimages.views.conftest import editor, editor_client, post, viewer, viewer_client  # noqa: F401
