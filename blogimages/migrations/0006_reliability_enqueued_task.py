# Also merges the two 0004 branches (models' cost, publish's renditions).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("blogimages", "0004_publish_alt_text_renditions"),
        ("blogimages", "0005_models_retired_models"),
    ]

    operations = [
        migrations.AddField(
            model_name="imageoutput",
            name="task_id",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="imageoutput",
            name="enqueued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="imageoutput",
            index=models.Index(fields=["status", "enqueued_at"], name="imageoutput_enqueued_idx"),
        ),
    ]
