"""make bench rewrites docs/performance.md above its Soak section and keeps that section."""

from __future__ import annotations

from pathlib import Path

from bench.report import write_document

SOAK = "## Soak\n\nThe soak's own figures.\n\n### A subsection\n\nkept too\n"


def test_the_soak_section_and_what_follows_it_are_kept(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nold figures\n\n" + SOAK)

    write_document(doc, "# Performance\n\nnew figures\n")

    assert doc.read_text() == "# Performance\n\nnew figures\n\n" + SOAK


def test_a_document_without_a_soak_section_is_replaced_whole(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nold figures, and a line that mentions ## Soak inline\n")

    write_document(doc, "# Performance\n\nnew figures\n")

    assert doc.read_text() == "# Performance\n\nnew figures\n"


def test_a_missing_document_is_created(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"

    write_document(doc, "# Performance\n\nnew figures\n")

    assert doc.read_text() == "# Performance\n\nnew figures\n"
