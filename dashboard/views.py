"""The web UI: public pages, and behind login the account's keys, agents and memories.

Views translate HTTP to service calls and back; every object is looked up through the
signed-in user's account, so another account's ids answer 404 like missing ones.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from allauth.core import ratelimit
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from api import export
from api import views as api_views
from api.payloads import memory_json
from api.services import api_key_create, api_key_revoke, api_key_rotate
from audit.models import AuditEvent
from audit.selectors import EXPORT_COLUMNS as AUDIT_EXPORT_COLUMNS
from audit.selectors import audit_event_json, audit_events, audit_export_rows
from audit.services import actor_user, audit_record, client_ip
from billing import stripe_api
from billing.models import Account
from billing.plans import DEFAULT_PLAN, PLANS, Plan, UnknownPlan, plan_get
from billing.prices import billing_enabled, plans_sold
from billing.quotas import QuotaExceeded
from billing.selectors import billing_invoices, billing_status
from billing.services import (
    AlreadyOnPlan,
    NoBillingCustomer,
    PlanNotSold,
    billing_checkout_start,
    billing_portal_url,
)
from dashboard import docs
from dashboard.charts import usage_chart
from dashboard.forms import (
    AccountDeleteForm,
    AgentCreateForm,
    AgentEditForm,
    ApiKeyCreateForm,
    ApiKeyRotateForm,
    AuditFilterForm,
    MemoryFilterForm,
    QueryTestForm,
)
from dashboard.selectors import (
    account_for_user,
    account_overview,
    api_key_get,
    api_key_list,
    session_choices,
)
from dashboard.services import user_delete
from memories import ranking, selectors, services
from memories.embedding import EmbeddingError
from memories.exceptions import (
    AgentAlreadyExists,
    AgentNotFound,
    InvalidInput,
    MemoryAlreadyEmbedded,
    MemoryNotFound,
)
from memories.models import Agent, EmbeddingStatus, Memory
from webhooks.exceptions import DestinationRefused, WebhookInvalid
from webhooks.forms import WebhookEndpointForm
from webhooks.models import EVENTS as WEBHOOK_EVENTS
from webhooks.models import WebhookEndpoint
from webhooks.services import webhook_endpoint_create, webhook_endpoint_delete, webhook_test_send

PAGE_SIZE = 50
# The memory browser pages through at most this many matches (2,000 pages).
MAX_BROWSABLE = 100_000
MAX_SELECTED = 500
EXPORT_CHUNK = 2000


def _account(request: HttpRequest) -> Account:
    return account_for_user(request.user)


def _agent(account: Account, agent_id: str) -> Agent:
    try:
        return selectors.agent_get(account=account, agent_id=agent_id)
    except AgentNotFound:
        raise Http404("No such agent.") from None


def _memory(agent: Agent, memory_id: str) -> Memory:
    try:
        return selectors.memory_get(agent=agent, memory_id=memory_id)
    except MemoryNotFound:
        raise Http404("No such memory.") from None


# -- public pages ------------------------------------------------------------------


@require_GET
def landing_view(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/landing.html", {"plans": PLANS})


@require_GET
def pricing_view(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/pricing.html", {"plans": PLANS})


@require_GET
def docs_view(request: HttpRequest, page: str = "quickstart") -> HttpResponse:
    try:
        doc = docs.doc_get(page)
    except docs.DocNotFound:
        raise Http404("No such page.") from None
    return render(request, "dashboard/docs.html", {"doc": doc, "pages": docs.doc_index()})


# -- home ----------------------------------------------------------------------------


@login_required
@require_GET
def home_view(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    overview = account_overview(account=account, today=timezone.now().date())
    chart = usage_chart([(day.day, day.remember, day.recall) for day in overview.days])
    first_agent = Agent.objects.for_account(account).order_by("created_at").first()
    return render(
        request,
        "dashboard/home.html",
        {
            "account": account,
            "overview": overview,
            "chart": chart,
            "first_agent": first_agent,
            "has_key": api_key_list(account=account).filter(revoked_at__isnull=True).exists(),
            "api_base": request.build_absolute_uri("/api/v1"),
        },
    )


# -- API keys --------------------------------------------------------------------------

NEW_KEY_SESSION = "dashboard_new_api_key"


@login_required
@require_http_methods(["GET", "POST"])
def api_key_list_view(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    form = ApiKeyCreateForm(request.POST if request.method == "POST" else None, account=account)
    if request.method == "POST" and form.is_valid():
        chosen = list(form.cleaned_data["agents"])
        api_key, raw_key = api_key_create(
            account=account,
            name=form.cleaned_data["name"],
            read_only=form.cleaned_data["read_only"],
            agents=chosen or None,
            actor=actor_user(request.user),
            ip=client_ip(request),
        )
        # Shown once, on the next page load, then gone from the session.
        request.session[NEW_KEY_SESSION] = {"id": str(api_key.uuid), "key": raw_key}
        messages.success(request, f"Key “{api_key.name}” created.")
        return redirect("dashboard:api-keys")
    return render(
        request,
        "dashboard/api_keys.html",
        {
            "form": form,
            "keys": api_key_list(account=account).prefetch_related("agents"),
            "new_key": request.session.pop(NEW_KEY_SESSION, None),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def api_key_revoke_view(request: HttpRequest, key_id: uuid.UUID) -> HttpResponse:
    api_key = api_key_get(account=_account(request), key_id=str(key_id))
    if api_key is None:
        raise Http404("No such key.")
    if request.method == "POST":
        api_key_revoke(api_key=api_key, actor=actor_user(request.user), ip=client_ip(request))
        messages.success(request, f"Key “{api_key.name}” ({api_key.prefix}…) revoked.")
        return redirect("dashboard:api-keys")
    return render(request, "dashboard/api_key_revoke.html", {"key": api_key})


@login_required
@require_http_methods(["GET", "POST"])
def api_key_rotate_view(request: HttpRequest, key_id: uuid.UUID) -> HttpResponse:
    """A new key with the same name and scope; the old one works for the chosen grace."""
    api_key = api_key_get(account=_account(request), key_id=str(key_id))
    if api_key is None:
        raise Http404("No such key.")
    if not api_key.is_active or api_key.expires_at is not None:
        messages.error(request, f"Key “{api_key.name}” is revoked or already rotated.")
        return redirect("dashboard:api-keys")
    form = ApiKeyRotateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        new_key, raw_key = api_key_rotate(
            api_key=api_key,
            grace=form.cleaned_data["grace"],
            actor=actor_user(request.user),
            ip=client_ip(request),
        )
        request.session[NEW_KEY_SESSION] = {"id": str(new_key.uuid), "key": raw_key}
        until = (
            f"until {api_key.expires_at:%Y-%m-%d %H:%M} UTC"
            if api_key.revoked_at is None and api_key.expires_at is not None
            else "no longer"
        )
        messages.success(
            request, f"Key “{api_key.name}” rotated: the old key ({api_key.prefix}…) works {until}."
        )
        return redirect("dashboard:api-keys")
    return render(
        request,
        "dashboard/api_key_rotate.html",
        {"key": api_key, "form": form},
        status=400 if form.errors else 200,
    )


# -- agents ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def agent_list_view(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    form = AgentCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            agent = services.agent_create(
                account=account,
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["agent_id"] or None,
                description=form.cleaned_data["description"],
                actor=actor_user(request.user),
                ip=client_ip(request),
            )
        except (AgentAlreadyExists, InvalidInput) as exc:
            form.add_error("agent_id", exc.message)
        except QuotaExceeded as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Agent “{agent.name}” created; its id is {agent.slug}.")
            return redirect("dashboard:agent", agent_id=agent.slug)
    return render(
        request,
        "dashboard/agents.html",
        {"form": form, "agents": selectors.agent_list(account=account)},
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def agent_detail_view(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = _agent(_account(request), agent_id)
    filters = MemoryFilterForm(request.GET)
    wanted = filters.filters()
    page_number = wanted.pop("page")
    offset = (page_number - 1) * PAGE_SIZE
    if offset >= MAX_BROWSABLE:
        offset, page_number = 0, 1
    memories, total = selectors.memory_list(agent=agent, limit=PAGE_SIZE, offset=offset, **wanted)
    if not memories and offset and total:
        # Past the end (an old link, or memories deleted since): show the last page.
        page_number = (min(total, MAX_BROWSABLE) - 1) // PAGE_SIZE + 1
        offset = (page_number - 1) * PAGE_SIZE
        memories, total = selectors.memory_list(
            agent=agent, limit=PAGE_SIZE, offset=offset, **wanted
        )
    page = _page(memories, total=min(total, MAX_BROWSABLE), number=page_number)

    query_form = QueryTestForm(
        request.GET if "query" in request.GET else None, auto_id="id_test_%s"
    )
    recalled: list[services.Recalled] | None = None
    if query_form.is_bound and query_form.is_valid():
        try:
            recalled = services.recall(
                agent=agent,
                query=query_form.cleaned_data["query"],
                top_k=query_form.cleaned_data["top_k"],
                session_id=query_form.cleaned_data["query_session"] or None,
                count_access=False,  # looking is not using
            )
        except EmbeddingError:
            query_form.add_error(None, "The embedding model is unavailable; try again shortly.")
    return render(
        request,
        "dashboard/agent_detail.html",
        {
            "agent": agent,
            "filters": filters,
            "active": wanted,
            "page": page,
            "total": total,
            "sessions": session_choices(agent=agent),
            "query_form": query_form,
            "recalled": recalled,
            "querystring": _querystring(request, drop={"page", *QueryTestForm.base_fields}),
        },
    )


def _page(items: list[Memory], *, total: int, number: int) -> Page:
    """A Paginator page over rows already fetched for that page: no second count."""
    paginator = Paginator(range(total), PAGE_SIZE, allow_empty_first_page=True)
    number = min(number, paginator.num_pages)
    return Page(items, number, paginator)


def _querystring(request: HttpRequest, *, drop: set[str]) -> str:
    params = request.GET.copy()
    for key in drop:
        params.pop(key, None)
    return params.urlencode()


@login_required
@require_http_methods(["GET", "POST"])
def agent_edit_view(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = _agent(_account(request), agent_id)
    form = AgentEditForm(
        request.POST if request.method == "POST" else None,
        initial={
            "name": agent.name,
            "description": agent.description,
            "retention_days": agent.retention_days,
        },
    )
    if request.method == "POST" and form.is_valid():
        services.agent_update(
            agent=agent,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            retention_days=form.cleaned_data["retention_days"] or 0,
            actor=actor_user(request.user),
            ip=client_ip(request),
        )
        messages.success(request, "Agent saved.")
        return redirect("dashboard:agent", agent_id=agent.slug)
    return render(
        request,
        "dashboard/agent_edit.html",
        {"agent": agent, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def agent_delete_view(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = _agent(_account(request), agent_id)
    if request.method == "POST":
        deleted = services.agent_delete(
            agent=agent, actor=actor_user(request.user), ip=client_ip(request)
        )
        messages.success(
            request, f"Agent “{agent.name}” deleted with {deleted:,} memor{_ies(deleted)}."
        )
        return redirect("dashboard:agents")
    count = selectors.agent_memory_count(agent=agent)
    return render(request, "dashboard/agent_delete.html", {"agent": agent, "count": count})


def _ies(count: int) -> str:
    return "y" if count == 1 else "ies"


# -- memories --------------------------------------------------------------------------


@login_required
@require_GET
def memory_detail_view(request: HttpRequest, agent_id: str, memory_id: str) -> HttpResponse:
    agent = _agent(_account(request), agent_id)
    memory = _memory(agent, memory_id)
    weights = services.ranking_weights()
    recency = ranking.recency_score(
        memory_type=memory.type,
        created_at=memory.created_at,
        now=timezone.now(),
        pinned=memory.pinned,
        weights=weights,
    )
    frequency = ranking.frequency_score(memory.access_count, weights)
    return render(
        request,
        "dashboard/memory_detail.html",
        {
            "agent": agent,
            "memory": memory,
            "weights": weights,
            "recency": recency,
            "frequency": frequency,
            "without_similarity": weights.recency * recency + weights.frequency * frequency,
            "metadata": json.dumps(memory.metadata, indent=2, ensure_ascii=False),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def memory_delete_view(request: HttpRequest, agent_id: str, memory_id: str) -> HttpResponse:
    agent = _agent(_account(request), agent_id)
    memory = _memory(agent, memory_id)
    if request.method == "POST":
        services.forget(memory=memory, actor=actor_user(request.user), ip=client_ip(request))
        messages.success(request, "Memory deleted.")
        return redirect("dashboard:agent", agent_id=agent.slug)
    return render(request, "dashboard/memory_delete.html", {"agent": agent, "memory": memory})


@login_required
@require_POST
def memory_retry_view(request: HttpRequest, agent_id: str, memory_id: str) -> HttpResponse:
    """Queue a failed or pending memory's embedding again, as the API's retry does."""
    agent = _agent(_account(request), agent_id)
    memory = _memory(agent, memory_id)
    try:
        memory = services.memory_embedding_retry(memory=memory)
    except MemoryAlreadyEmbedded:
        messages.info(request, "This memory is embedded already.")
    else:
        if memory.status == EmbeddingStatus.READY:
            messages.success(request, "Memory embedded.")
        elif memory.status == EmbeddingStatus.PENDING:
            messages.success(request, "Memory queued for embedding again.")
        else:
            messages.error(request, f"Embedding failed again: {memory.embedding_error}")
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("dashboard:memory", agent_id=agent.slug, memory_id=memory.uuid)


def _selected_ids(request: HttpRequest) -> list[uuid.UUID]:
    selected = []
    for value in request.POST.getlist("memory")[:MAX_SELECTED]:
        try:
            selected.append(uuid.UUID(value))
        except ValueError:
            continue
    return selected


@login_required
@require_POST
def memories_delete_view(request: HttpRequest, agent_id: str) -> HttpResponse:
    """Delete the memories ticked in the browser, after a confirmation page."""
    agent = _agent(_account(request), agent_id)
    selected = _selected_ids(request)
    if not selected:
        messages.error(request, "Select at least one memory to delete.")
        return redirect("dashboard:agent", agent_id=agent.slug)
    if request.POST.get("confirm") != "yes":
        memories = list(
            Memory.objects.live().filter(agent=agent, uuid__in=selected).order_by("-created_at")
        )
        if not memories:
            raise Http404("No such memory.")
        return render(
            request, "dashboard/memories_delete.html", {"agent": agent, "memories": memories}
        )
    deleted = services.memories_delete(
        agent=agent, memory_ids=selected, actor=actor_user(request.user), ip=client_ip(request)
    )
    messages.success(request, f"Deleted {deleted:,} memor{_ies(deleted)}.")
    return redirect("dashboard:agent", agent_id=agent.slug)


@login_required
@require_http_methods(["GET", "POST"])
def session_clear_view(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = _agent(_account(request), agent_id)
    source = request.POST if request.method == "POST" else request.GET
    session_id = source.get("session", "")
    if not session_id:
        messages.error(request, "Choose a session to clear.")
        return redirect("dashboard:agent", agent_id=agent.slug)
    if request.method == "POST":
        deleted = services.memories_delete(
            agent=agent,
            session_id=session_id,
            actor=actor_user(request.user),
            ip=client_ip(request),
        )
        messages.success(
            request, f"Session “{session_id}” cleared: {deleted:,} memor{_ies(deleted)} deleted."
        )
        return redirect("dashboard:agent", agent_id=agent.slug)
    count = selectors.live_count(
        Memory.objects.filter(agent=agent, session_id=session_id), now=timezone.now()
    )
    if not count:
        raise Http404("No such session.")
    return render(
        request,
        "dashboard/session_clear.html",
        {"agent": agent, "session_id": session_id, "count": count},
    )


EXPORT_COLUMNS = [
    "id",
    "content",
    "type",
    "session_id",
    "metadata",
    "pinned",
    "created_at",
    "updated_at",
    "expires_at",
    "access_count",
    "last_accessed_at",
    "status",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def memory_export_view(request: HttpRequest, agent_id: str, fmt: str) -> HttpResponseBase:
    """All of the agent's live memories, oldest first, streamed in chunks."""
    agent = _agent(_account(request), agent_id)
    rows = (
        Memory.objects.live()
        .filter(agent=agent)
        .defer("embedding", "search_vector")
        .order_by("created_at", "id")
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    body: Iterator[str]
    if fmt == "json":
        body = _json_lines(agent, rows)
        content_type = "application/json"
    else:
        body = _csv_lines(agent, rows)
        content_type = "text/csv; charset=utf-8"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="kronvex-{agent.slug}-{stamp}.{fmt}"'
    return response


def _json_lines(agent: Agent, rows: Iterator[Memory]) -> Iterator[str]:
    yield '{"agent": ' + json.dumps(agent.slug) + ', "memories": ['
    separator = "\n"
    for memory in rows:
        yield separator + json.dumps(memory_json(memory, agent=agent), ensure_ascii=False)
        separator = ",\n"
    yield "\n]}\n"


def _csv_lines(agent: Agent, rows: Iterator[Memory]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for memory in rows:
        data = memory_json(memory, agent=agent)
        data["metadata"] = json.dumps(data["metadata"], ensure_ascii=False)
        yield writer.writerow([_csv_cell(data[column]) for column in EXPORT_COLUMNS])


def _csv_cell(value: Any) -> Any:
    # A spreadsheet runs a cell starting with one of these as a formula.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


# -- playground ------------------------------------------------------------------------

PLAYGROUND_OPERATIONS: dict[str, type[api_views.AccountApi]] = {
    "remember": api_views.RememberApi,
    "recall": api_views.RecallApi,
    "inject-context": api_views.InjectContextApi,
}


PLAYGROUND_EXAMPLES = {
    "remember": {
        "content": "User prefers concise answers",
        "type": "semantic",
        "session_id": "user-42",
    },
    "recall": {"query": "How should I answer?", "top_k": 5, "session_id": "user-42"},
    "inject-context": {"query": "How should I answer?", "top_k": 5, "session_id": "user-42"},
}


@login_required
@require_GET
def playground_view(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = _agent(_account(request), agent_id)
    return render(
        request,
        "dashboard/playground.html",
        {
            "agent": agent,
            "operations": list(PLAYGROUND_OPERATIONS),
            "examples": PLAYGROUND_EXAMPLES,
            "api_base": request.build_absolute_uri("/api/v1"),
        },
    )


class _SignedInAccount:
    """request.auth for API views called from the dashboard: the signed-in user's account."""

    def __init__(self, account: Account) -> None:
        self.account = account


class DashboardSessionAuthentication(SessionAuthentication):
    """The dashboard's session, CSRF-checked, standing in for an API key."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        return user, _SignedInAccount(account_for_user(user))


def _playground_api(operation: type[api_views.AccountApi]) -> Callable[..., HttpResponseBase]:
    return operation.as_view(
        authentication_classes=[DashboardSessionAuthentication],
        permission_classes=[IsAuthenticated],
    )


_PLAYGROUND_APIS = {name: _playground_api(view) for name, view in PLAYGROUND_OPERATIONS.items()}


@login_required
@require_POST
def playground_call_view(request: HttpRequest, agent_id: str, operation: str) -> HttpResponseBase:
    """The API's own view for the operation, answering exactly as it does to a key."""
    api = _PLAYGROUND_APIS.get(operation)
    if api is None:
        raise Http404("No such operation.")
    _agent(_account(request), agent_id)
    return api(request, agent_id=agent_id)


# -- billing --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanChoice:
    """One plan on the billing page, with what the account can do about it."""

    plan: Plan
    # "current", "upgrade" or "change" (a button to Stripe), "cancel" (free, through
    # Manage billing), "contact" (enterprise), "unavailable" (not sold on this server).
    action: str


def _plan_choices(*, current: Plan, live: bool, sold: list[Plan]) -> list[PlanChoice]:
    choices = []
    for plan in PLANS:
        if plan.slug == current.slug:
            action = "current"
        elif plan.price_eur_month is None:
            action = "contact"
        elif plan.slug == DEFAULT_PLAN:
            action = "cancel" if live else "unavailable"
        elif plan not in sold:
            action = "unavailable"
        elif current.price_eur_month is not None and plan.price_eur_month > current.price_eur_month:
            action = "upgrade"
        else:
            action = "change"
        choices.append(PlanChoice(plan=plan, action=action))
    return choices


def _billing_page(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    account = _account(request)
    overview = account_overview(account=account, today=timezone.now().date())
    today = overview.days[-1]
    billing = billing_status(account=account)
    invoices: list[stripe_api.Invoice] = []
    invoices_error = ""
    if billing.enabled and billing.has_customer:
        try:
            invoices = billing_invoices(account=account, limit=12)
        except stripe_api.StripeUnavailable:
            invoices_error = "Invoices cannot be read from Stripe right now; try again later."
    sold = plans_sold()
    return render(
        request,
        "dashboard/billing.html",
        {
            "account": account,
            "overview": overview,
            "recalls_today": today.recall + today.inject_context,
            "plans": PLANS,
            "billing": billing,
            "choices": _plan_choices(current=overview.plan, live=billing.live, sold=sold),
            "invoices": invoices,
            "invoices_error": invoices_error,
            "checkout_done": request.GET.get("checkout") == "done",
            "error": error,
        },
        status=status,
    )


def _billing_url(request: HttpRequest, query: str = "") -> str:
    return request.build_absolute_uri(reverse("dashboard:billing") + query)


NOT_CONFIGURED = "Online payment is not configured on this server."


@login_required
@require_GET
def billing_view(request: HttpRequest) -> HttpResponse:
    return _billing_page(request)


@login_required
@require_POST
def billing_checkout_view(request: HttpRequest) -> HttpResponse:
    """Send the customer to Stripe to pay for the posted plan."""
    if not billing_enabled():
        return _billing_page(request, error=NOT_CONFIGURED, status=400)
    slug = request.POST.get("plan", "")
    try:
        plan = plan_get(slug)
    except UnknownPlan:
        return _billing_page(request, error=f"There is no plan {slug[:40]!r}.", status=400)
    if plan.price_eur_month is None:
        return _billing_page(
            request,
            error=f"The {plan.name} plan is arranged with us, not bought online: contact us.",
            status=400,
        )
    if plan.slug == DEFAULT_PLAN:
        return _billing_page(
            request,
            error="To go back to the Free plan, cancel the subscription in Manage billing.",
            status=400,
        )
    try:
        url = billing_checkout_start(
            account=_account(request),
            plan=plan,
            success_url=_billing_url(request, "?checkout=done"),
            cancel_url=_billing_url(request),
        )
    except PlanNotSold:
        return _billing_page(
            request, error=f"The {plan.name} plan is not sold online here.", status=400
        )
    except AlreadyOnPlan:
        messages.info(request, f"This account already pays for the {plan.name} plan.")
        return redirect("dashboard:billing")
    except stripe_api.StripeUnavailable:
        return _billing_page(
            request,
            error="Stripe cannot be reached right now; nothing was charged. Try again later.",
            status=502,
        )
    return redirect(url)


@login_required
@require_POST
def billing_portal_view(request: HttpRequest) -> HttpResponse:
    """Send the customer to Stripe's Customer Portal: payment method, invoices, cancel."""
    if not billing_enabled():
        return _billing_page(request, error=NOT_CONFIGURED, status=400)
    try:
        url = billing_portal_url(account=_account(request), return_url=_billing_url(request))
    except NoBillingCustomer:
        return _billing_page(
            request, error="There is nothing to manage yet: choose a plan first.", status=400
        )
    except stripe_api.StripeUnavailable:
        return _billing_page(
            request, error="Stripe cannot be reached right now; try again later.", status=502
        )
    return redirect(url)


# -- account --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def account_view(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    form = AccountDeleteForm(request.POST if request.method == "POST" else None, user=request.user)  # type: ignore[arg-type]
    if request.method == "POST":
        if not ratelimit.consume(request, action="reauthenticate", user=request.user):
            messages.error(request, "Too many attempts; wait a minute and try again.")
            return redirect("dashboard:account")
        if form.is_valid():
            user = request.user
            logout(request)
            deleted = user_delete(user=user)  # type: ignore[arg-type]
            messages.success(
                request,
                f"Your account is deleted: {deleted.agents:,} agent(s), "
                f"{deleted.memories:,} memor{_ies(deleted.memories)} and "
                f"{deleted.api_keys:,} API key(s) are gone.",
            )
            return redirect("home")
    return render(
        request,
        "dashboard/account.html",
        {
            "account": account,
            "form": form,
            "agents": Agent.objects.for_account(account).count(),
            "memories": selectors.account_memory_count(account=account),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def account_export_view(request: HttpRequest) -> HttpResponseBase:
    """Everything the account holds as one JSON file, streamed: the API's export."""
    body = export.account_export(
        account=_account(request), actor=actor_user(request.user), ip=client_ip(request)
    )
    response = StreamingHttpResponse(body, content_type="application/json")
    filename = export.export_filename("account")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# -- audit log -------------------------------------------------------------------------

AUDIT_PAGE_SIZE = 100


@login_required
@require_GET
def audit_log_view(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    filters = AuditFilterForm(request.GET)
    wanted = filters.filters()
    events = audit_events(account=account, **wanted)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(
        filters.cleaned_data.get("page") if filters.is_valid() else 1
    )
    return render(
        request,
        "dashboard/audit.html",
        {
            "filters": filters,
            "page": page,
            "querystring": _querystring(request, drop={"page"}),
        },
    )


@login_required
@require_GET
def audit_export_view(request: HttpRequest) -> HttpResponseBase:
    """The entries the filters select, newest first, streamed as `?format=json` (the
    default) or `csv`; the export is logged too."""
    account = _account(request)
    fmt = "csv" if request.GET.get("format") == "csv" else "json"
    filters = AuditFilterForm(request.GET)
    events = audit_events(account=account, **filters.filters())
    audit_record(
        account=account,
        kind=AuditEvent.Kind.AUDIT_EXPORTED,
        actor=actor_user(request.user),
        data={"format": fmt, "filters": request.GET.dict()},
        ip=client_ip(request),
    )
    rows = audit_export_rows(events)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    body: Iterator[str]
    if fmt == "json":
        body = _audit_json_lines(rows)
        content_type = "application/json"
    else:
        body = _audit_csv_lines(rows)
        content_type = "text/csv; charset=utf-8"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="kronvex-audit-{stamp}.{fmt}"'
    return response


def _audit_json_lines(rows: Iterator[AuditEvent]) -> Iterator[str]:
    yield '{"events": ['
    separator = "\n"
    for event in rows:
        yield separator + json.dumps(audit_event_json(event), ensure_ascii=False)
        separator = ",\n"
    yield "\n]}\n"


def _audit_csv_lines(rows: Iterator[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(AUDIT_EXPORT_COLUMNS)
    for event in rows:
        data = audit_event_json(event)
        data["data"] = json.dumps(data["data"], ensure_ascii=False)
        yield writer.writerow([_csv_cell(data[column]) for column in AUDIT_EXPORT_COLUMNS])


# -- webhooks --------------------------------------------------------------------------

NEW_WEBHOOK_SESSION = "dashboard_new_webhook"
RECENT_DELIVERIES = 50


def _webhook(request: HttpRequest, webhook_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = (
        WebhookEndpoint.objects.for_account(_account(request)).filter(uuid=webhook_id).first()
    )
    if endpoint is None:
        raise Http404("No such webhook.")
    return endpoint


@login_required
@require_http_methods(["GET", "POST"])
def webhook_list_view(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    form = WebhookEndpointForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = webhook_endpoint_create(
                account=account,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                actor=actor_user(request.user),
                ip=client_ip(request),
            )
        except WebhookInvalid as exc:
            form.add_error("url" if isinstance(exc, DestinationRefused) else None, str(exc))
        else:
            # The signing secret is shown once, on the next page load, then gone from the
            # session.
            request.session[NEW_WEBHOOK_SESSION] = {
                "id": str(endpoint.uuid),
                "secret": endpoint.secret,
            }
            messages.success(request, f"Webhook endpoint {endpoint.url} added.")
            return redirect("dashboard:webhook", webhook_id=endpoint.uuid)
    endpoints = WebhookEndpoint.objects.for_account(account).order_by("created_at")
    return render(
        request,
        "dashboard/webhooks.html",
        {"form": form, "endpoints": endpoints},
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def webhook_detail_view(request: HttpRequest, webhook_id: uuid.UUID) -> HttpResponse:
    endpoint = _webhook(request, webhook_id)
    new = request.session.pop(NEW_WEBHOOK_SESSION, None)
    return render(
        request,
        "dashboard/webhook_detail.html",
        {
            "endpoint": endpoint,
            "events": [(name, meaning) for name, meaning in WEBHOOK_EVENTS.items()],
            "deliveries": endpoint.deliveries.order_by("-created_at", "-pk")[:RECENT_DELIVERIES],
            "new_secret": new["secret"] if new and new["id"] == str(endpoint.uuid) else None,
        },
    )


@login_required
@require_POST
def webhook_test_view(request: HttpRequest, webhook_id: uuid.UUID) -> HttpResponse:
    delivery = webhook_test_send(endpoint=_webhook(request, webhook_id))
    if delivery.status == delivery.Status.SUCCEEDED:
        messages.success(request, f"Test event delivered: HTTP {delivery.last_status_code}.")
    elif delivery.attempts:
        messages.error(request, f"Test event not delivered: {delivery.last_error}")
    else:
        messages.success(request, "Test event queued; it appears below once sent.")
    return redirect("dashboard:webhook", webhook_id=webhook_id)


@login_required
@require_http_methods(["GET", "POST"])
def webhook_delete_view(request: HttpRequest, webhook_id: uuid.UUID) -> HttpResponse:
    endpoint = _webhook(request, webhook_id)
    if request.method == "POST":
        webhook_endpoint_delete(
            endpoint=endpoint, actor=actor_user(request.user), ip=client_ip(request)
        )
        messages.success(request, f"Webhook endpoint {endpoint.url} deleted.")
        return redirect("dashboard:webhooks")
    return render(request, "dashboard/webhook_delete.html", {"endpoint": endpoint})
