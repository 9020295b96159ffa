import factory
from django.contrib.auth import get_user_model

from blogimages.models import ImageOutput, ImagePrompt, ImagePromptExample, ImageSetting
from posts.models import Post, Section


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw-for-tests-only")


class PostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Post

    title = factory.Sequence(lambda n: f"Post number {n}")
    slug = factory.Sequence(lambda n: f"post-{n}")
    summary = "A short summary."
    body = "Body text."
    tags = "travel, sea"


class SectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Section

    post = factory.SubFactory(PostFactory)
    order = factory.Sequence(lambda n: n)
    key = factory.Sequence(lambda n: f"section-{n}")
    heading = factory.Sequence(lambda n: f"Heading {n}")
    body = "Section body."


class ImageSettingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImageSetting

    name = factory.Sequence(lambda n: f"setting-{n}")
    provider = "test"
    width = 64
    height = 48


class ImagePromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImagePrompt

    description = "A lighthouse at dusk"
    style = "warm"
    format = "square"


class ImagePromptExampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImagePromptExample

    name = factory.Sequence(lambda n: f"example-{n}")
    description = "{heading} on {title}"
    style = "pastel"


class ImageOutputFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImageOutput

    prompt_text = "A lighthouse at dusk"
    provider = "test"
    model = "recorder"
    status = "queued"
