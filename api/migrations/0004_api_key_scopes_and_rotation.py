from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0003_idempotencykey"),
        ("memories", "0010_embedding_retries"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="apikey",
            name="read_only",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="apikey",
            name="limit_agents",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="apikey",
            name="agents",
            field=models.ManyToManyField(blank=True, related_name="+", to="memories.agent"),
        ),
    ]
