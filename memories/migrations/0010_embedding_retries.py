from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("memories", "0009_vector_scan_created_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="memory",
            name="embedding_attempts",
            field=models.PositiveIntegerField(default=0, db_default=0),
        ),
        migrations.AddField(
            model_name="memory",
            name="embedding_retry_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
