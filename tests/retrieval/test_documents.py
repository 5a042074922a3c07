import json
from pathlib import Path

import pytest

from tunewise import DataError
from tunewise.retrieval import FieldMap, discover, discover_sources, load_file


def test_markdown_keeps_text_and_title(tmp_path: Path) -> None:
    file = tmp_path / "a.md"
    file.write_text("# Reset\n\nHold the dial.\n")
    [doc] = load_file(file)
    assert doc.text == "# Reset\n\nHold the dial.\n"
    assert doc.title == "Reset"
    assert doc.kind == "markdown"
    assert doc.path == file.resolve().as_posix()  # where ingestion finds the file again
    assert doc.source == "a.md"  # what a client is shown: never the server's path
    [named] = load_file(file, source="help/a.md")
    assert named.source == "help/a.md" and named.path == doc.path


def test_html_drops_scripts_and_keeps_blocks(tmp_path: Path) -> None:
    file = tmp_path / "page.html"
    file.write_text(
        "<html><head><title>Help</title><style>p{}</style></head>"
        "<body><h1>Wi-Fi</h1><p>Hold the <b>dial</b>.</p><script>alert(1)</script><p>Then pair.</p></body></html>"
    )
    [doc] = load_file(file)
    assert doc.title == "Help"
    assert doc.text == "Wi-Fi\nHold the dial.\nThen pair."


def test_jsonl_with_field_map(tmp_path: Path) -> None:
    file = tmp_path / "faq.jsonl"
    rows = [{"q": "Reset?", "a": "Hold the dial.", "sku": "LT-200", "tags": ["x"]}, {"q": "Price?", "a": "149."}]
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    docs = load_file(file, FieldMap(text=["q", "a"], id="q"))
    assert [d.text for d in docs] == ["Reset?\n\nHold the dial.", "Price?\n\n149."]
    assert docs[0].source == "faq.jsonl#Reset?"
    assert docs[0].metadata == {"sku": "LT-200", "row": 1}  # lists are not scalar metadata
    assert docs[0].kind == "record"


def test_jsonl_errors_name_file_line_and_field(tmp_path: Path) -> None:
    file = tmp_path / "bad.jsonl"
    file.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(DataError) as info:
        load_file(file)
    assert str(info.value) == f"{file.resolve().as_posix()}:2: text: missing text field"
    file.write_text('{"text": "ok"}\n{not json}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: invalid JSON"):
        load_file(file)


def test_csv_with_field_map_and_missing_column(tmp_path: Path) -> None:
    file = tmp_path / "kb.csv"
    file.write_text('id,body,lang\n1,"Hold the dial,\nthen wait.",en\n2,Pair it.,fr\n')
    docs = load_file(file, FieldMap(text="body", id="id", metadata=["lang"]))
    assert [d.text for d in docs] == ["Hold the dial,\nthen wait.", "Pair it."]
    assert [d.metadata for d in docs] == [{"lang": "en", "row": 3}, {"lang": "fr", "row": 4}]
    with pytest.raises(DataError, match=r"kb\.csv:1: text: no such column \(columns: id, body, lang\)"):
        load_file(file)


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(DataError, match=r"unsupported file type '\.pdf'"):
        load_file(tmp_path / "x.pdf")
    with pytest.raises(DataError, match="no such file or directory"):
        discover([tmp_path / "nope"])
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9")
    with pytest.raises(DataError, match=r"latin\.txt: not UTF-8 text \(byte 3\)"):
        load_file(tmp_path / "latin.txt")


def test_discover_walks_supported_files_and_skips_hidden(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    for name in ("a.md", "sub/b.txt", "sub/c.pdf", ".git/d.md", ".hidden.md"):
        (tmp_path / name).write_text("x")
    found = discover([tmp_path, tmp_path / "a.md"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.md", "sub/b.txt"]
    # each file is cited relative to the directory it was found in, or by its name when given itself
    assert list(discover_sources([tmp_path / "sub", tmp_path / "a.md"]).values()) == ["b.txt", "a.md"]
    assert list(discover_sources([tmp_path]).values()) == ["a.md", "sub/b.txt"]
