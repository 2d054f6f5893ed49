"""``python -m bench --sections X`` rewrites only section X's block of docs/benchmarks.md."""

from __future__ import annotations

from unittest import mock

from bench import run


def test_a_section_run_replaces_only_its_own_block(tmp_path):
    path = tmp_path / "benchmarks.md"
    with mock.patch.object(run, "machine", return_value={"commit": "abc", "CPU": "test cpu"}):
        run.write(path, {"ingest": "ingest v1", "e2e": "e2e v1"})
        path.write_text(path.read_text() + "\n## Analysis\n\nhand-written text\n")
        run.write(path, {"e2e": "e2e v2", "normalize": "normalize v1"})
    text = path.read_text()
    assert "ingest v1" in text, "a section that did not run keeps its last results"
    assert "e2e v2" in text and "e2e v1" not in text
    assert text.index("ingest v1") < text.index("normalize v1") < text.index("e2e v2"), "registry order"
    assert text.endswith("## Analysis\n\nhand-written text\n"), "the analysis outside the markers is kept"
    assert text.count(run.START) == 1 and text.count(run.END) == 1


def test_default_sections_are_registered_with_their_runner():
    assert {"ingest", "normalize", "backfill", "scale", "e2e"} <= set(run.SECTIONS)
    assert not run.SECTIONS["profile"].default
