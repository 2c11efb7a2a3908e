from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("memories", "0010_embedding_retries"),
    ]

    operations = [
        migrations.AddField(
            model_name="agent",
            name="retention_days",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
