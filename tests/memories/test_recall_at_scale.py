"""An agent's recall is exact however many other agents' memories the database holds."""

import random
from datetime import timedelta

import numpy as np
import pytest
from django.db.models import Field
from django.db.models.expressions import RawSQL
from django.utils import timezone

from memories import lexical, ranking, selectors, services
from memories.embedding import get_embedder
from memories.models import Agent, EmbeddingStatus, Memory
from memories.vector_cache import get_vector_cache

AGENTS = 50
MEMORIES_PER_AGENT = 120
TOP_K = 10
WORDS = [
    f"{a}{b}"
    for a in ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi")
    for b in (
        "bar",
        "cen",
        "dol",
        "fin",
        "gur",
        "hex",
        "jot",
        "kem",
        "lum",
        "mop",
        "nix",
        "pol",
        "qua",
        "ris",
        "sul",
        "tev",
        "umb",
        "vek",
        "wal",
        "yor",
    )
]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))


@pytest.fixture
def crowded_database(account, fake_embedder):
    """50 agents of one account, 6,000 memories in all, embedded, ages and uses varied."""
    rng = random.Random(7)
    noise = np.random.default_rng(7)
    embedder = get_embedder()
    now = timezone.now()
    agents = [
        Agent.objects.create(account=account, slug=f"agent-{index}", name=f"Agent {index}")
        for index in range(AGENTS)
    ]
    rows = []
    for agent in agents:
        texts = [sentence(rng) for _ in range(MEMORIES_PER_AGENT)]
        # Word-hash vectors tie exactly for texts of the same words; a little noise
        # makes every similarity distinct, as real embeddings are, so "top k" is well defined.
        vectors = embedder.embed(texts) + noise.normal(0, 0.02, (len(texts), embedder.dimensions))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for text, vector in zip(texts, vectors, strict=True):
            rows.append(
                Memory(
                    account=account,
                    agent=agent,
                    content=text,
                    type=rng.choice(["episodic", "semantic", "procedural"]),
                    created_at=now - timedelta(days=rng.uniform(0, 200)),
                    access_count=rng.choice([0, 0, 0, 1, 3, 20]),
                    embedding=vector,
                    embedding_model=embedder.model_name,
                    status=EmbeddingStatus.READY,
                )
            )
    Memory.objects.bulk_create(rows, batch_size=2000)
    return agents


def brute_force(agent: Agent, query: str, top_k: int) -> list[tuple[str, float]]:
    """The same ranking computed the slow way: every memory of the agent scored in numpy,
    its BM25 from statistics counted over all of them."""
    embedder = get_embedder()
    weights = services.ranking_weights()
    query_vector = embedder.embed([query])[0]
    memories = list(
        Memory.objects.filter(agent=agent).annotate(
            lexemes=RawSQL("tsvector_to_array(search_vector)", [], output_field=Field())
        )
    )
    matrix = np.array([memory.embedding for memory in memories], dtype=np.float32)
    similarities = matrix @ query_vector
    documents = [set(memory.lexemes) for memory in memories]
    lexemes = selectors.query_lexemes(query)
    stats = lexical.CorpusStats(
        documents=len(documents),
        average_length=float(np.mean([len(terms) for terms in documents])),
        document_frequency={
            lexeme: sum(lexeme in terms for terms in documents) for lexeme in lexemes
        },
    )
    lexical_scores = lexical.scores(query_lexemes=lexemes, documents=documents, stats=stats)
    relevance = (1 - weights.lexical) * np.clip(similarities, 0, 1) + weights.lexical * (
        lexical_scores
    )
    limit = max(services.MIN_CANDIDATES, top_k * services.CANDIDATES_PER_RESULT)
    nearest = np.argsort(-relevance, kind="stable")[:limit]
    crowding = ranking.crowding_scores(matrix[nearest], weights.crowding_neighbours)
    candidates = [
        ranking.Candidate(
            vector=float(similarities[i]),
            lexical=float(lexical_scores[i]),
            type=memories[i].type,
            created_at=memories[i].created_at,
            access_count=memories[i].access_count,
            pinned=memories[i].pinned,
            crowding=float(crowded),
        )
        for i, crowded in zip(nearest, crowding, strict=True)
    ]
    by_candidate = {id(c): memories[i] for c, i in zip(candidates, nearest, strict=True)}
    ranked = ranking.rank(
        candidates, now=timezone.now(), weights=services.ranking_weights(), limit=top_k
    )
    return [(str(by_candidate[id(item.candidate)].uuid), item.score.confidence) for item in ranked]


# Committed rows, so recall may fill its in-process vector copies from them.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("vector_cache_mb", [256, 0], ids=["in-memory", "postgres"])
def test_every_agent_gets_its_exact_top_k_among_50_agents(
    crowded_database, settings, vector_cache_mb
):
    settings.KRONVEX_VECTOR_CACHE_MB = vector_cache_mb
    assert Memory.objects.count() == AGENTS * MEMORIES_PER_AGENT
    rng = random.Random(11)
    for agent in crowded_database:
        query = sentence(rng)
        expected = brute_force(agent, query, TOP_K)
        # Recall counts accesses, which changes later rankings: compare before it does.
        recalled = services.recall(agent=agent, query=query, top_k=TOP_K)
        assert len(recalled) == TOP_K
        # pgvector computes in float32: equal scores may swap places, nothing else may.
        assert [item.score.confidence for item in recalled] == pytest.approx(
            [confidence for _, confidence in expected], abs=1e-6
        ), agent.slug
        assert {str(item.memory.uuid) for item in recalled} == {uuid for uuid, _ in expected}
        assert max(item.score.lexical for item in recalled) > 0
        assert {item.memory.agent_id for item in recalled} == {agent.pk}
        cached = get_vector_cache().holds(agent_pk=agent.pk, model_name=get_embedder().model_name)
        assert cached == bool(vector_cache_mb)
