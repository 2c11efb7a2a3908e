"""The rate-limit counters of api/ratelimit.py when no Redis is configured.

No model: the table is only read and written by ratelimit.py's one upsert statement.
UNLOGGED, since counts that matter for a minute or a day need no WAL (a database crash
empties it). A low fill factor leaves room on each page for the updates of a counter to
stay HOT (no index entry written per request).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql="""
                CREATE UNLOGGED TABLE api_ratecounter (
                    bucket varchar(200) PRIMARY KEY,
                    hits integer NOT NULL,
                    expires_at timestamp with time zone NOT NULL
                ) WITH (fillfactor = 50)
            """,
            reverse_sql="DROP TABLE api_ratecounter",
        ),
    ]
