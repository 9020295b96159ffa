"""Files follow their rows: deleting an ImageOutput removes its file, thumbnail, sidecar and renditions,
and the inputs its edit stored for itself once no other image's edit names them."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import ImageOutput, Rendition


@receiver(post_delete, sender=ImageOutput)
def _delete_files(sender, instance: ImageOutput, **kwargs) -> None:
    from .storage import delete_files

    names = [f.name for f in (instance.file, instance.thumbnail, instance.sidecar) if f and f.name]
    if names:
        # Only once the delete is committed: a rolled-back delete keeps its files.
        transaction.on_commit(lambda: delete_files(names))
    from .editing import delete_unreferenced_inputs, stored_inputs

    inputs = stored_inputs(instance.setting_snapshot)
    if inputs:
        # An edit's uploaded source, mask and references, once no other image's edit names them.
        transaction.on_commit(lambda: delete_unreferenced_inputs(inputs))


@receiver(post_delete, sender=Rendition)
def _delete_rendition_file(sender, instance: Rendition, **kwargs) -> None:
    from .storage import delete_files

    if instance.file and instance.file.name:
        name = instance.file.name
        transaction.on_commit(lambda: delete_files([name]))


def _post_saved(sender, instance, **kwargs) -> None:
    from .automation import post_content_changed
    from .post_renditions import schedule

    post_content_changed(instance)
    # Published (or saved while published): its page's renditions are made now, not on a first view.
    schedule(instance)


def connect_post_model() -> None:
    """Listen to the host's post model (named by a setting, so connected at ready())."""
    from .integration import get_post_model

    post_save.connect(_post_saved, sender=get_post_model(), dispatch_uid="blogimages_post_saved")
