import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations

# The lexical document of a memory: its content, then the month and year it was made, in
# words (to_char's Month is English whatever the server's locale). A trigger rather than a
# generated column because to_char() is not immutable; it fires only when the content or
# the date is written, never on recall's access-count updates.
FUNCTION = """
CREATE OR REPLACE FUNCTION memories_memory_search_vector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        to_tsvector('english', NEW.content)
        || to_tsvector('english', to_char(NEW.created_at AT TIME ZONE 'UTC', 'FMMonth YYYY'));
    RETURN NEW;
END
$$;
CREATE TRIGGER memories_memory_search_vector
    BEFORE INSERT OR UPDATE OF content, created_at, search_vector ON memories_memory
    FOR EACH ROW EXECUTE FUNCTION memories_memory_search_vector();
"""
DROP_FUNCTION = """
DROP TRIGGER IF EXISTS memories_memory_search_vector ON memories_memory;
DROP FUNCTION IF EXISTS memories_memory_search_vector();
"""
BACKFILL = "UPDATE memories_memory SET search_vector = NULL"


class Migration(migrations.Migration):
    dependencies = [("memories", "0005_account_memories_held")]

    operations = [
        migrations.RemoveIndex(model_name="memory", name="memory_search_vector"),
        migrations.RemoveField(model_name="memory", name="search_vector"),
        migrations.AddField(
            model_name="memory",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.RunSQL(FUNCTION, DROP_FUNCTION),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="memory",
            index=django.contrib.postgres.indexes.GinIndex(
                fields=["search_vector"], name="memory_search_vector"
            ),
        ),
    ]
