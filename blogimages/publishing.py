"""Putting images on posts: "use in post" from anywhere, alt text, caption, focal point.

    use_in_post(image, post=post, slot_key="featured", user=user)
        fits the image to the slot's size (cover crop around its focal point) as a derived
        image linked to its original, assigns it through the adapter, records a ReviewEvent
    update_alt_text(image, alt_text=..., user=user)   # approved by the person who wrote it
    set_focal_point(image, x=0.3, y=0.6, user=user)   # later crops keep that point
"""

from __future__ import annotations

from django.db import transaction

from . import derive
from .batches import find_slot
from .imaging.resize import resize
from .integration import get_post_adapter, slot_size
from .models import AltTextStatus, ImageOutput, OutputStatus, ReviewAction, ReviewStatus
from .review import _require_succeeded, approve, assign_to_section, record, require_reviewer

ALT_MAX = 300
CAPTION_MAX = 500


def use_in_post(output: ImageOutput, *, post, slot_key: str, user) -> ImageOutput:
    """Make any finished image (tester, compare, another post's) the image of a post's slot.

    Returns the image the slot now shows: the original itself when it already belongs to
    that slot at the slot's size, else a new fitted copy (`derivation="fit"`)."""
    require_reviewer(user)
    _require_succeeded(output, "used in a post")
    if output.review_status == ReviewStatus.REJECTED:
        raise ValueError(f"Image #{output.pk} was rejected; un-reject (approve) it before using it in a post.")
    slot = find_slot(post, slot_key)  # ValueError naming the post's slots
    width, height = slot_size(slot)
    adapter = get_post_adapter()
    if (output.post_id == post.pk and output.section_key == slot.key
            and (output.width, output.height) == (width, height)):
        with transaction.atomic():
            adapter.assign_slot_image(post, slot.key, output)
            record(output, user=user, action=ReviewAction.USE, note=f"Used for {slot.label!r}.",
                   data={"post": post.pk, "slot": slot.key, "assigned_output": output.pk})
        return output
    data = resize(derive.read_bytes(output), width=width, height=height, mode="cover",
                              focal=(output.focal_x, output.focal_y))

    def assign(new: ImageOutput) -> None:
        adapter.assign_slot_image(post, slot.key, new)

    return derive.store_derived(
        output, data, suffix=f"fit-{slot.key}", derivation="fit", user=user,
        fields={"post": post, "section_key": slot.key, "alt_text": output.alt_text, "alt_status": output.alt_status,
                "caption": output.caption, "decorative": output.decorative, "realistic": output.realistic},
        event={"action": ReviewAction.USE,
               "note": f"Used for {slot.label!r} of {adapter.title(post)!r}, fitted to {width}×{height}.",
               "data": {"post": post.pk, "slot": slot.key, "size": [width, height],
                        "focal": [output.focal_x, output.focal_y]}},
        then=assign,
    )


def approve_newest_for_empty_slots(post, *, user) -> dict[str, ImageOutput]:
    """For every slot without an approved chosen image: approve its newest finished candidate
    (never a rejected one) and choose it. The one-click end of "Generate all"."""
    require_reviewer(user)
    adapter = get_post_adapter()
    chosen = adapter.chosen_slot_images(post)
    approved = set(ImageOutput.objects.filter(pk__in=[pk for pk in chosen.values() if pk],
                                              review_status=ReviewStatus.APPROVED).values_list("pk", flat=True))
    keys = [slot.key for slot in adapter.slots(post) if chosen.get(slot.key) not in approved]
    newest: dict[str, ImageOutput] = {}
    candidates = ImageOutput.objects.filter(post=post, section_key__in=keys, status=OutputStatus.SUCCEEDED,
                                            derived_from__isnull=True).exclude(review_status=ReviewStatus.REJECTED)
    for output in candidates.order_by("section_key", "-created_at", "-id"):
        newest.setdefault(output.section_key, output)
    done = {}
    with transaction.atomic():
        for key, output in newest.items():
            approve(output, user=user)
            done[key] = assign_to_section(output, key, user=user)
    return done


def update_alt_text(output: ImageOutput, *, user, alt_text: str, caption: str | None = None,
                    decorative: bool | None = None, realistic: bool | None = None) -> ImageOutput:
    """Store what a person wrote (approved); a blank alt text on a non-decorative image is refused."""
    require_reviewer(user)
    alt_text = " ".join((alt_text or "").split())
    decorative = output.decorative if decorative is None else decorative
    if not alt_text and not decorative:
        raise ValueError("Write the alt text, or mark the image as decorative.")
    if len(alt_text) > ALT_MAX:
        raise ValueError(f"Alt text is at most {ALT_MAX} characters (125 reads best); this is {len(alt_text)}.")
    caption = output.caption if caption is None else " ".join(caption.split())
    if len(caption) > CAPTION_MAX:
        raise ValueError(f"A caption is at most {CAPTION_MAX} characters.")
    before = {"alt_text": output.alt_text, "caption": output.caption, "decorative": output.decorative,
              "realistic": output.realistic}
    output.alt_text, output.caption, output.decorative = alt_text, caption, decorative
    output.realistic = output.realistic if realistic is None else realistic
    output.alt_status = AltTextStatus.APPROVED
    with transaction.atomic():
        output.save(update_fields=["alt_text", "caption", "decorative", "realistic", "alt_status"])
        record(output, user=user, action=ReviewAction.ALT_TEXT, note=alt_text or "(decorative)",
               data={"before": before})
    return output


def set_focal_point(output: ImageOutput, *, user, x: float, y: float) -> ImageOutput:
    require_reviewer(user)
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError("The focal point must lie inside the image.")
    output.focal_x, output.focal_y = round(x, 4), round(y, 4)
    output.save(update_fields=["focal_x", "focal_y"])
    return output
