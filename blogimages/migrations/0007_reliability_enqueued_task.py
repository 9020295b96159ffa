from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("blogimages", "0006_merge_models_publish"),
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
