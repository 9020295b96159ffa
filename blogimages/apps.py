from django.apps import AppConfig


class BlogImagesConfig(AppConfig):
    name = "blogimages"
    verbose_name = "Blog images"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401  (registers checks and receivers)

        signals.connect_post_model()
