from django.apps import AppConfig


class BlogImagesConfig(AppConfig):
    name = "blogimages"
    verbose_name = "Blog images"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, queueing, signals, tasks  # noqa: F401  (registers checks and receivers)

        signals.connect_post_model()
        # Services queue images through `queueing`; the task layer says how they run.
        queueing.set_runner(tasks.enqueue_outputs)
