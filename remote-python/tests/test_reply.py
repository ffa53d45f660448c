"""Code LLM replies -> code: a corpus of realistic replies (tests/replies/*.txt, each headed by what it must give)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from archloop.evaluation.contract import check_source
from archloop.llm.prompts import CODE_PREFIX, FORCED_PREFIX, training_pair
from archloop.llm.reply import extract_code

REPLIES = Path(__file__).parent / "replies"
HEADER_END = "# ---\n"
MODULE_LEVEL = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign, ast.Expr)


def read_reply(path: Path) -> tuple[dict[str, str], str]:
    """(header fields, reply text); the header is `# key: value` lines ending at a `# ---` line."""
    data = path.read_bytes().decode()
    header, _, reply = data.partition(HEADER_END)
    fields = dict(line[2:].split(": ", 1) for line in header.splitlines())
    return fields, reply


FILES = sorted(REPLIES.glob("*.txt"))


def test_the_corpus_covers_every_kind():
    expected = [read_reply(path)[0]["expect"] for path in FILES]
    assert len(FILES) >= 30
    assert {"ok", "no_code", "truncated", "syntax_error", "contract_error"} <= set(expected)
    stripped = {kind for path in FILES for kind in read_reply(path)[0].get("stripped", "").split(", ") if kind}
    assert {"think", "prose", "other_block", "duplicate_import", "main_block", "print", "module_code"} <= stripped


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_each_reply_gives_what_its_header_says(path: Path):
    fields, reply = read_reply(path)
    expect = fields["expect"]
    extraction = extract_code(reply)
    kinds = {item.kind for item in extraction.stripped}
    for kind in filter(None, fields.get("stripped", "").split(", ")):
        assert kind in kinds, (kind, extraction.stripped)
    if expect in ("no_code", "truncated", "syntax_error"):
        assert extraction.outcome == expect, (extraction.outcome, extraction.message)
        assert extraction.message
        return
    assert extraction.ok, (extraction.outcome, extraction.message)
    report = check_source(extraction.code)
    if expect == "contract_error":
        assert not report.ok and report.outcome == "contract_error"
        return
    assert expect == "ok"
    assert report.ok, report.problems
    tree = ast.parse(extraction.code)
    for node in tree.body:  # nothing that runs at import is left: no demo, no print, no instance
        assert isinstance(node, MODULE_LEVEL), ast.unparse(node)
        if isinstance(node, ast.Expr):
            assert isinstance(node.value, ast.Constant), ast.unparse(node)
    assert "```" not in extraction.code and "<think>" not in extraction.code
    # Extraction is idempotent (stored code is extracted again before it becomes a training pair).
    assert extract_code(extraction.code).code == extraction.code
    _, completion = training_pair(extraction.code)
    assert completion.endswith("\n```") and "```" not in completion[:-3]


def test_a_reply_in_the_format_is_the_code_exactly():
    code = CODE_PREFIX + "    return {'lr'}\n\n\nclass Net:\n    pass\n"
    extraction = extract_code(FORCED_PREFIX + code[len(CODE_PREFIX) :] + "```")
    assert extraction.ok and extraction.code == code and extraction.stripped == ()


def test_stripped_items_name_their_line_in_the_reply():
    reply = "Intro text here.\n```python\nimport torch\nprint('x')\n\nclass Net:\n    pass\n```\nBye now.\n"
    extraction = extract_code(reply)
    assert [(s.kind, s.line, s.text) for s in extraction.stripped] == [
        ("prose", 1, "Intro text here."),
        ("print", 4, "print('x')"),
        ("prose", 9, "Bye now."),
    ]
    assert extraction.code == "import torch\n\nclass Net:\n    pass\n"
