"""python manage.py hash_images — perceptual hashes for stored images made before pHash was kept."""

from django.db.models import Q

from ...imaging import phash
from ...models import ImageOutput, OutputStatus
from ...storage import get_storage, load_image
from ..base import OneLineErrorCommand


class Command(OneLineErrorCommand):
    help = "Compute the pHash of every stored image that has none (near-duplicates, gallery collapse)."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Recompute every image's hash, not only missing ones.")

    def handle(self, *args, **opts):
        images = ImageOutput.objects.filter(status=OutputStatus.SUCCEEDED).exclude(file="")
        if not opts["all"]:
            images = images.filter(Q(phash="") | Q(phash__isnull=True))
        storage, done, failed = get_storage(), 0, 0
        for output in images.only("pk", "file").order_by("pk").iterator(chunk_size=200):
            try:
                with storage.open(output.file.name, "rb") as handle:
                    _info, decoded = load_image(handle.read())
                with decoded:
                    value = phash.phash_hex(decoded)
            except Exception as exc:  # a missing or unreadable file is reported, the rest go on
                failed += 1
                self.stderr.write(f"image {output.pk}: {exc}")
                continue
            ImageOutput.objects.filter(pk=output.pk).update(phash=value)
            done += 1
        self.stdout.write(f"{done} image(s) hashed, {failed} could not be read.")
