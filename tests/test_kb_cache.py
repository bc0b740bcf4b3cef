"""The knowledge-base cache: the same knowledge base as a fresh load, never a stale one, and
never read from a file someone else could have written."""

import os

import pytest

from cup_triage.io.load import load_knowledge_base
from cup_triage.reasoning.errors import KnowledgeError


def _entries(cache):
    return sorted(cache.glob("*.pickle"))


def test_a_cached_knowledge_base_is_the_one_a_fresh_load_gives(rules, monkeypatch):
    folder, cache = rules
    first = load_knowledge_base(folder)
    assert len(_entries(cache)) == 1
    again = load_knowledge_base(folder)  # read back from the cache
    monkeypatch.setenv("CUP_TRIAGE_CACHE", "off")
    fresh = load_knowledge_base(folder)
    assert again is not first
    assert again.fingerprint == first.fingerprint == fresh.fingerprint
    assert [r.model_dump() for r in again.rules] == [r.model_dump() for r in fresh.rules]


def test_an_edited_rules_file_is_loaded_again_not_read_from_the_cache(rules):
    folder, cache = rules
    before = load_knowledge_base(folder)
    priors = folder / "priors.yaml"
    priors.write_text(priors.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    after = load_knowledge_base(folder)
    assert len(_entries(cache)) == 2  # one entry per content, the old one left to pruning
    assert after is not before
    # A broken file is an error, whatever the cache holds for the folder's earlier content.
    priors.write_text("priors: [", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="priors.yaml"):
        load_knowledge_base(folder)


def test_a_cache_file_another_user_could_write_or_a_torn_one_is_not_read(rules):
    folder, cache = rules
    load_knowledge_base(folder)
    (entry,) = _entries(cache)
    entry.chmod(0o666)  # writable by others: someone could have planted it
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2])  # torn too
    kb = load_knowledge_base(folder)  # loaded from the rules, and cached again
    assert kb.rules
    assert os.stat(entry).st_mode & 0o077 == 0
    entry.write_bytes(data[: len(data) // 2])
    assert load_knowledge_base(folder).fingerprint == kb.fingerprint


def test_a_cache_that_cannot_be_written_is_simply_not_used(rules, monkeypatch):
    folder, _ = rules
    blocked = folder.parent / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("CUP_TRIAGE_CACHE", str(blocked / "cache"))
    assert load_knowledge_base(folder).rules
