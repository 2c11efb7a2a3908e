from django.urls import re_path

from api import views

AGENT = r"agents/(?P<agent_id>[^/]+)"

urlpatterns = [
    re_path(r"^agents/?$", views.AgentListApi.as_view(), name="agent-list"),
    re_path(rf"^{AGENT}/?$", views.AgentDetailApi.as_view(), name="agent-detail"),
    re_path(rf"^{AGENT}/remember/?$", views.RememberApi.as_view(), name="remember"),
    re_path(
        rf"^{AGENT}/remember/batch/?$", views.RememberBatchApi.as_view(), name="remember-batch"
    ),
    re_path(
        rf"^{AGENT}/remember/batch/(?P<batch_id>[^/]+)/?$",
        views.RememberBatchDetailApi.as_view(),
        name="remember-batch-detail",
    ),
    re_path(rf"^{AGENT}/recall/?$", views.RecallApi.as_view(), name="recall"),
    re_path(
        rf"^{AGENT}/inject-context/?$", views.InjectContextApi.as_view(), name="inject-context"
    ),
    re_path(rf"^{AGENT}/memories/?$", views.MemoryListApi.as_view(), name="memory-list"),
    re_path(
        rf"^{AGENT}/memories/(?P<memory_id>[^/]+)/?$",
        views.MemoryDetailApi.as_view(),
        name="memory-detail",
    ),
    re_path(rf"^{AGENT}/sessions/?$", views.SessionListApi.as_view(), name="session-list"),
    re_path(
        rf"^{AGENT}/memories/(?P<memory_id>[^/]+)/retry/?$",
        views.MemoryRetryApi.as_view(),
        name="memory-retry",
    ),
    # The account as a whole, and one end user's session across all its agents.
    re_path(r"^export/?$", views.ExportApi.as_view(), name="export"),
    re_path(
        r"^sessions/(?P<session_id>[^/]+)/?$",
        views.SessionDetailApi.as_view(),
        name="session-detail",
    ),
    re_path(
        r"^sessions/(?P<session_id>[^/]+)/export/?$",
        views.SessionExportApi.as_view(),
        name="session-export",
    ),
]
