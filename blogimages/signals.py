"""Files follow their rows: deleting an ImageOutput removes its file, thumbnail and sidecar."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import ImageOutput


@receiver(post_delete, sender=ImageOutput)
def _delete_files(sender, instance: ImageOutput, **kwargs) -> None:
    from .storage import delete_files

    names = [f.name for f in (instance.file, instance.thumbnail, instance.sidecar) if f and f.name]
    if names:
        # Only once the delete is committed: a rolled-back delete keeps its files.
        transaction.on_commit(lambda: delete_files(names))
