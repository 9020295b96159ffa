from django.apps import AppConfig


class BlogImagesConfig(AppConfig):
    default = True  # this module holds a second config (below): this one is blogimages'
    name = "blogimages"
    verbose_name = "Blog images"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, heap, queueing, signals, tasks  # noqa: F401  (registers checks and receivers)

        signals.connect_post_model()
        # Services queue images through `queueing`; the task layer says how they run.
        queueing.set_runner(tasks.enqueue_outputs)
        queueing.set_post_renditions_runner(tasks.enqueue_post_renditions)
        # Last: everything imported so far lives as long as the process.
        heap.freeze("app ready")
        heap.freeze_after_first_request()


class BinaryDatabaseFilesConfig(AppConfig):
    """django-binary-database-files (BLOGIMAGES_STORAGE=database) with the key type its own
    migration made, whatever the project's DEFAULT_AUTO_FIELD: no migration of a third-party app."""

    name = "binary_database_files"
    label = "binary_database_files"
    verbose_name = "Files stored in the database"
    default_auto_field = "django.db.models.AutoField"
