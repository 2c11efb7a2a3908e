"""Prompt-ready context formatting: pure, no database."""

from datetime import UTC, datetime

from memories.context import ContextItem, build_context, estimate_tokens, normalise, render

DAY = datetime(2026, 4, 28, 9, 30, tzinfo=UTC)


def item(content: str, kind: str = "semantic", embedding: list[float] | None = None) -> ContextItem:
    return ContextItem(type=kind, created_at=DAY, content=content, embedding=embedding)


def test_each_memory_is_one_line_with_type_and_date():
    items = [item("User prefers concise answers"), item("Deployed v2 on Friday", "episodic")]
    chosen = build_context(items, max_tokens=None)
    assert render([items[i] for i in chosen]) == (
        "[semantic, 2026-04-28] User prefers concise answers\n"
        "[episodic, 2026-04-28] Deployed v2 on Friday"
    )


def test_line_breaks_inside_a_memory_are_folded():
    assert (
        render([item("first line\nsecond\tline")])
        == "[semantic, 2026-04-28] first line second line"
    )


def test_equal_text_after_normalising_is_collapsed():
    items = [item("User prefers concise answers."), item("user  prefers CONCISE answers")]
    assert build_context(items, max_tokens=None) == [0]


def test_near_identical_vectors_are_collapsed_and_different_ones_kept():
    items = [
        item("The deploy is on Friday", embedding=[1.0, 0.0, 0.0]),
        item("Deploy happens Friday", embedding=[0.99, 0.05, 0.0]),
        item("The cat is called Miso", embedding=[0.0, 1.0, 0.0]),
    ]
    assert build_context(items, max_tokens=None) == [0, 2]


def test_max_tokens_is_never_exceeded_and_smaller_memories_still_fit():
    items = [item("short one"), item("a much longer memory " * 20), item("tiny")]
    budget = estimate_tokens(render([items[0]])) + 1 + estimate_tokens(render([items[2]]))
    chosen = build_context(items, max_tokens=budget)
    assert chosen == [0, 2]
    assert estimate_tokens(render([items[i] for i in chosen])) <= budget


def test_a_budget_too_small_for_anything_gives_an_empty_context():
    assert build_context([item("User prefers concise answers")], max_tokens=2) == []
    assert render([]) == ""


def test_token_estimate_counts_non_ascii_characters_one_each():
    assert estimate_tokens("abcd" * 10) == 10
    assert estimate_tokens("日本語") == 3
    assert estimate_tokens("") == 0


def test_normalise_folds_case_punctuation_and_spacing():
    assert normalise("  Hello,   WORLD!! ") == "hello world"
