import blogimages.models
from django.db import migrations


class Migration(migrations.Migration):
    """PromptRun.seed takes ComfyUI's 64-bit seeds like ImageOutput.seed. The column stays a
    bigint (Seed64Field stores seeds above 2^63−1 as their two's complement), so only the
    state changes: an AlterField would rebuild the table on SQLite, and with it the
    PostgreSQL-only full-text index."""

    dependencies = [
        ('blogimages', '0014_comfy_seed64_fallbacks_node_maps_progress'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='promptrun',
                    name='seed',
                    field=blogimages.models.Seed64Field(blank=True, null=True),
                ),
            ],
        ),
    ]
