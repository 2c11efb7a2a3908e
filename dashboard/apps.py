from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        from allauth.account.signals import user_logged_in
        from django.contrib.auth.signals import user_login_failed

        from dashboard import signals

        # allauth's signal, not Django's: it fires for sign-ins through the site's forms
        # (and email confirmation), not for sessions made by code such as force_login.
        user_logged_in.connect(signals.on_user_logged_in, dispatch_uid="dashboard.audit_sign_in")
        user_login_failed.connect(
            signals.on_user_login_failed, dispatch_uid="dashboard.audit_sign_in_failed"
        )
