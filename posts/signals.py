"""posts tells blogimages when a post's sections change (the PostAdapter contract)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from blogimages import post_renditions
from blogimages.automation import post_content_changed

from .models import Section


@receiver(post_save, sender=Section)
@receiver(post_delete, sender=Section)
def _section_changed(sender, instance: Section, **kwargs) -> None:
    post = instance.post
    post_content_changed(post)
    # A published post's section may show another image now (the admin's inline): its renditions.
    post_renditions.schedule(post)
