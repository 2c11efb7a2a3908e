import uuid
from datetime import datetime

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import MD5, Lower, Trim
from django.utils import timezone
from pgvector.django import VectorField

from billing.models import Account

# Where agents' and memories' vector versions come from (see memories/vector_cache.py).
VECTOR_VERSION_SEQUENCE = "memories_vector_version_seq"

# A memory's content as duplicates compare, in SQL: the same expression as
# Memory.content_key, for a text given as a parameter.
CONTENT_KEY_SQL = "MD5(TRIM(LOWER(regexp_replace(normalize(%s, NFKC), '[^[:alnum:]]+', ' ', 'g'))))"

# The text-search configuration used for the lexical index and lexical queries.
SEARCH_CONFIG = "english"


class AgentQuerySet(models.QuerySet["Agent"]):
    def for_account(self, account: Account) -> "AgentQuerySet":
        return self.filter(account=account)


class Agent(models.Model):
    """One AI agent's memory space, addressed by a slug unique per account or by its UUID."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="agents")
    slug = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    # Days after which its episodic memories (pinned ones excepted) are erased, counted
    # from when each was last stated; None keeps them (memories/services.py
    # memories_retention_purge).
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Raised (from VECTOR_VERSION_SEQUENCE) by every change to the agent's ready vectors,
    # and the deletion one by deletions: recall's in-process vector copies compare them.
    vector_version = models.BigIntegerField(default=0, editable=False)
    vector_pruned_version = models.BigIntegerField(default=0, editable=False)

    objects = AgentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "slug"], name="agent_unique_slug"),
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.slug


class MemoryType(models.TextChoices):
    EPISODIC = "episodic"
    SEMANTIC = "semantic"
    PROCEDURAL = "procedural"


class EmbeddingStatus(models.TextChoices):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


def live_condition(now: datetime, prefix: str = "") -> Q:
    """The one definition of a live memory; `prefix` reaches it across a relation."""
    return (
        Q(**{f"{prefix}pinned": True})
        | Q(**{f"{prefix}expires_at__isnull": True})
        | Q(**{f"{prefix}expires_at__gt": now})
    )


class MemoryQuerySet(models.QuerySet["Memory"]):
    def for_account(self, account: Account) -> "MemoryQuerySet":
        return self.filter(account=account)

    def live(self, now: datetime | None = None) -> "MemoryQuerySet":
        """Memories not past their expiry; pinned memories never expire."""
        return self.filter(live_condition(now or timezone.now()))

    def expired(self, now: datetime | None = None) -> "MemoryQuerySet":
        now = now or timezone.now()
        return self.filter(pinned=False, expires_at__lte=now)


class MemoryBatch(models.Model):
    """Memories remembered by one batch call: what became of its items, and a handle to
    poll their embedding by."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memory_batches")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="batches")
    created_at = models.DateTimeField(auto_now_add=True)
    total = models.PositiveIntegerField()
    created = models.PositiveIntegerField(default=0)
    deduplicated = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.uuid)


class Memory(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Denormalised from the agent so tenant filters and quotas need no join.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memories")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="memories")
    content = models.TextField()
    type = models.CharField(max_length=16, choices=MemoryType.choices, default=MemoryType.EPISODIC)
    session_id = models.CharField(max_length=255, null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    pinned = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    access_count = models.PositiveIntegerField(default=0)
    last_accessed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    # The dimension is not fixed in the column: it follows the configured embedder,
    # and `embedding_model` says which model produced each vector.
    embedding = VectorField(null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING
    )
    embedding_error = models.TextField(blank=True, default="")
    # How many times the sweeper (or a retry by hand, which starts again from 0) queued
    # the memory again, and when it may next do so (memories/services.py memories_sweep):
    # None for a ready memory, for a failure that retrying cannot cure, and for one that
    # failed too many times.
    # Bulk paths (COPY) that do not name the column get 0 from the database.
    embedding_attempts = models.PositiveIntegerField(default=0, db_default=0)
    embedding_retry_at = models.DateTimeField(null=True, blank=True)
    # The agent's vector version of the last change to this memory's vector or filters.
    vector_version = models.BigIntegerField(default=0, editable=False)
    # The content as duplicates compare: Unicode-normalised, lower-case, punctuation and
    # spacing folded, hashed (see memories/services.py remember).
    content_key = models.GeneratedField(
        expression=MD5(
            Trim(
                Lower(
                    Func(
                        Func(F("content"), template="normalize(%(expressions)s, NFKC)"),
                        Value("[^[:alnum:]]+"),
                        Value(" "),
                        Value("g"),
                        function="regexp_replace",
                    )
                )
            )
        ),
        output_field=models.CharField(max_length=32),
        db_persist=True,
    )
    # The batch call that stored it, if one did.
    batch = models.ForeignKey(
        MemoryBatch,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="memories",
        db_index=False,  # the partial index below: most memories have no batch
    )
    # The UUID of the newer memory that restated and changed this one (remember's
    # `supersedes`): recall ranks this one after memories nobody superseded, and it stays
    # listable. A UUID rather than a foreign key, so that deleting memories stays one
    # DELETE; deleting the newer memory clears it (memories/services.py).
    superseded_by = models.UUIDField(null=True, blank=True)
    # When the memory was last stated again (a duplicate remembered): recency counts from
    # here rather than from created_at.
    refreshed_at = models.DateTimeField(null=True, blank=True)
    # The lexical index's document: the content's words and the month and year the memory
    # was made ("march 2025"), so that questions naming a time can find it. Written by a
    # database trigger on every insert and change of content or date (migration 0006):
    # the month's name comes from to_char(), which a generated column may not call.
    search_vector = SearchVectorField(null=True, editable=False)

    objects = MemoryQuerySet.as_manager()

    # Set by remember: whether this memory was an existing one stated again.
    deduplicated = False

    class Meta:
        indexes = [
            models.Index(fields=["agent", "-created_at"], name="memory_agent_created"),
            models.Index(
                fields=["agent", "session_id", "-created_at"], name="memory_agent_session"
            ),
            models.Index(fields=["account"], name="memory_account"),
            GinIndex(fields=["search_vector"], name="memory_search_vector"),
            # Recall's exact vector search reads only this index (an index-only scan):
            # an agent's vectors sit together here, where in the table they are spread
            # over thousands of pages among other agents' rows.
            models.Index(
                fields=["agent", "embedding_model"],
                include=[
                    "id",
                    "embedding",
                    "pinned",
                    "expires_at",
                    "session_id",
                    "type",
                    "created_at",
                ],
                name="memory_vector_scan",
                condition=Q(status="ready"),
            ),
            # Memories without a vector yet: the recall's lexical fallback and the
            # embedding backlog both look here, and it is empty most of the time.
            models.Index(
                fields=["agent", "created_at"],
                name="memory_unembedded",
                condition=~Q(status="ready"),
            ),
            models.Index(fields=["agent", "vector_version"], name="memory_vector_version"),
            models.Index(fields=["agent", "content_key"], name="memory_content_key"),
            models.Index(fields=["batch"], name="memory_batch", condition=Q(batch__isnull=False)),
            models.Index(
                fields=["agent"],
                name="memory_superseded",
                condition=Q(superseded_by__isnull=False),
            ),
            models.Index(
                fields=["expires_at"],
                name="memory_expiring",
                condition=Q(expires_at__isnull=False, pinned=False),
            ),
        ]

    def __str__(self) -> str:
        return self.content[:60]
