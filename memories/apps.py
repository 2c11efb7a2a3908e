from django.apps import AppConfig
from django.core.signals import request_finished, request_started


class MemoriesConfig(AppConfig):
    name = "memories"

    def ready(self) -> None:
        from memories import (
            checks,  # noqa: F401 - registers the pgvector check
            services,
        )

        request_started.connect(
            services.defer_access_counts, dispatch_uid="memories.defer_access_counts"
        )
        request_finished.connect(
            services.write_deferred_access_counts, dispatch_uid="memories.write_access_counts"
        )
