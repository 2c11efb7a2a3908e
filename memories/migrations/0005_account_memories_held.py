from django.db import migrations

# Accounts' memory counts start from the rows they hold.
COUNT = """
UPDATE billing_account AS account
SET memories_held = held.count
FROM (SELECT account_id, count(*) AS count FROM memories_memory GROUP BY account_id) AS held
WHERE held.account_id = account.id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_account_memories_held"),
        ("memories", "0004_vector_versions"),
    ]

    operations = [migrations.RunSQL(COUNT, migrations.RunSQL.noop)]
