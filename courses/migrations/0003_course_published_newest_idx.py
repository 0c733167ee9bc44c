"""An index for the catalog's default order ("newest first") over the published courses.

With it a page of the public course list is an index range scan instead of a sort of every
published course. Written in each database's SQL: PostgreSQL needs `NULLS LAST` to match the
query's `ORDER BY published_at DESC NULLS LAST`, which SQLite cannot say in an index (there a
descending order puts NULLs last anyway).
"""

from django.db import migrations

NAME = "course_published_newest_idx"
COLUMNS = {
    "postgresql": "published_at DESC NULLS LAST, created_at DESC, id",
    "sqlite": "published_at DESC, created_at DESC, id",
}


def create_index(apps, schema_editor):
    columns = COLUMNS.get(schema_editor.connection.vendor)
    if columns is None:
        return  # other databases: the catalog works without it, only slower
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {NAME} ON courses_course ({columns}) "
        "WHERE status = 'published'"
    )


def drop_index(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("courses", "0002_course_thumbnail")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
