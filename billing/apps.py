import atexit

from django.apps import AppConfig
from django.core.signals import request_finished


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        from billing import usage

        request_finished.connect(usage.flush_when_due, dispatch_uid="billing.usage.flush")
        atexit.unregister(usage.flush_at_exit)  # ready() may run more than once
        atexit.register(usage.flush_at_exit)
