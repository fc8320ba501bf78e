"""A pretraining corpus of real English text that every machine already has offline.

The text is the prose of the Python standard library on the running interpreter:
module, class and function docstrings and comment blocks of every `.py` file
(test suites, IDLE and tkinter included), its `.txt` files (licence, IDLE's NEWS and
README) and the language reference topics in `pydoc_data`. Sources are *parsed* with
`ast`, never imported, so no module runs (no `antigravity` browser, no GUI, no test
side effects). The corpus is the first documents of that stream that hold `min_chars`
characters; if the stdlib runs out first (a Python built without its test suite, say),
the docstrings and comments of the project's own dependencies (numpy, torch,
transformers, ...) continue it, package by package, in a fixed order.

Format: one paragraph per line, documents separated by a blank line. A document is
the prose of one source file (in the file's order) or one reference topic.
Paragraphs are reflowed onto one line, whitespace collapsed, and kept only when
they read as English (enough words, mostly letters, at least one common English
word, no doctest prompts); a paragraph already seen earlier in the corpus is
dropped, so licence headers and stock docstrings appear once.

Everything is walked in sorted order, so the corpus is a function of the Python
version and `min_chars` (and, when topped up, of the installed package versions).
A full 4 MB build takes about half a minute of CPU; the result is cached under `cache_dir()`
(`$ALIGNPIPE_CACHE`, else `$XDG_CACHE_HOME/alignpipe`, else `~/.cache/alignpipe`).
"""

from __future__ import annotations

import ast
import importlib.util
import io
import itertools
import os
import platform
import re
import sysconfig
import tokenize
from collections.abc import Iterable, Iterator
from pathlib import Path

from alignpipe.core.cache import cache_dir
from alignpipe.core.log import warn

#: Bump when the extraction rules change, so stale caches are not reused.
FORMAT_VERSION = 1
#: Separates documents in the corpus text; paragraphs inside a document are single lines.
DOC_SEP = "\n\n"

# Parts of the stdlib tree that hold no prose of their own (installed packages, deliberately
# malformed test inputs).
_SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__", "tokenizedata", "data"}
# Packages that top the corpus up, in this order, only when the stdlib is too small.
TOPUP_PACKAGES = ("numpy", "scipy", "torch", "transformers", "datasets", "huggingface_hub", "matplotlib")

# Text with none of these words is not English prose.
_COMMON_WORDS = frozenset(
    ("the", "a", "an", "is", "are", "to", "of", "and", "in", "for", "it", "this", "that", "be", "with")
    + ("or", "not", "as", "on", "by", "if")
)
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")


def is_english(paragraph: str) -> bool:
    """Whether a reflowed paragraph reads as English prose rather than code, tables or numbers."""
    words = _WORD.findall(paragraph)
    if len(words) < 4 or ">>>" in paragraph:
        return False
    visible = [c for c in paragraph if not c.isspace()]
    letters = sum(c.isalpha() for c in visible)
    if letters < 0.8 * len(visible):
        return False
    return any(w.lower() in _COMMON_WORDS for w in words)


def _paragraphs(block: str) -> Iterator[str]:
    """Split a dedented block of text at blank lines and reflow each paragraph onto one line."""
    for para in re.split(r"\n\s*\n", block):
        if any(line.lstrip().startswith((">>>", "...")) for line in para.splitlines()):
            continue  # doctest examples are code, not prose
        flat = " ".join(para.split())
        if flat:
            yield flat


def _comment_blocks(lines: list[str], in_string: set[int]) -> list[tuple[int, str]]:
    """(line, text) for each run of whole-line comments; '#' markers and rulers stripped.

    `in_string` holds the line numbers inside multi-line string literals, where a '#' is text.
    """
    blocks: list[tuple[int, list[str]]] = []
    for row, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped.startswith("#") or row in in_string:
            continue
        text = stripped.lstrip("#!").strip()
        if set(text) <= set("-=*#~_ "):
            text = ""  # a ruler or an empty comment line ends a paragraph
        if blocks and blocks[-1][0] + len(blocks[-1][1]) == row:
            blocks[-1][1].append(text)
        else:
            blocks.append((row, [text]))
    return [(row, "\n".join(texts)) for row, texts in blocks]


def _file_prose(path: Path) -> list[str]:
    """The docstring and comment paragraphs of one Python file, in source order."""
    try:
        source = path.read_bytes()
        tree = ast.parse(source)
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        lines = source.decode(encoding).splitlines()
    except (SyntaxError, ValueError, UnicodeDecodeError, LookupError, OSError):
        return []
    pieces: list[tuple[int, str]] = []
    in_string: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                pieces.append((getattr(node, "lineno", 0), doc))
        elif isinstance(node, (ast.Constant, ast.JoinedStr)) and node.end_lineno > node.lineno:
            in_string.update(range(node.lineno + 1, node.end_lineno + 1))
    pieces += _comment_blocks(lines, in_string)
    pieces.sort(key=lambda p: p[0])  # stable: equal lines keep docstring-then-comment order
    return [para for _, block in pieces for para in _paragraphs(block)]


def _text_prose(path: Path) -> list[str]:
    """The paragraphs of a plain-text file (READMEs, NEWS, the licence)."""
    try:
        return list(_paragraphs(path.read_text(encoding="utf-8")))
    except (UnicodeDecodeError, OSError):
        return []


def _files(root: Path, pattern: str = "*.py") -> list[Path]:
    """Every file matching `pattern` under `root` outside the skipped folders, sorted by relative path."""
    files = [p for p in root.rglob(pattern) if not _SKIP_DIRS.intersection(p.relative_to(root).parts[:-1])]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _stdlib_sources() -> Iterator[list[str]]:
    """Raw paragraphs of each stdlib document: source files, text files, then reference topics."""
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in _files(root, "*.py"):
        yield _file_prose(path)
    for path in _files(root, "*.txt"):
        yield _text_prose(path)
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions strip pydoc_data
        topics = {}
    for name in sorted(topics):
        yield list(_paragraphs(topics[name]))


def _topup_sources() -> Iterator[list[str]]:
    """Raw paragraphs of the dependencies' source files, package by package."""
    for name in TOPUP_PACKAGES:
        spec = importlib.util.find_spec(name)  # locates a top-level package without importing it
        for location in (spec and spec.submodule_search_locations) or []:
            for path in _files(Path(location), "*.py"):
                yield _file_prose(path)


def _documents(sources: Iterable[list[str]], min_chars: int) -> list[str]:
    """Filter and globally de-duplicate paragraphs; one document per source with any prose left.

    Stops as soon as the documents (with separators) hold `min_chars` characters.
    """
    seen: set[str] = set()
    docs: list[str] = []
    total = 0
    for paragraphs in sources:
        kept = []
        for para in paragraphs:
            if para not in seen and is_english(para):
                seen.add(para)
                kept.append(para)
        if kept:
            docs.append("\n".join(kept))
            total += len(docs[-1]) + len(DOC_SEP)
            if total - len(DOC_SEP) >= min_chars:
                break
    return docs


def build_corpus(min_chars: int = 4_000_000, cache: bool = True) -> str:
    """The first documents of the offline prose that hold at least `min_chars` characters.

    Documents come from the stdlib first and from the dependencies only once the stdlib is
    used up, so a smaller `min_chars` gives a prefix of a larger one's corpus (at document
    boundaries) and builds faster. Warns and returns everything when the machine has less
    prose than asked for. Cached per Python version and `min_chars`; `cache=False` rebuilds
    without reading or writing the cache.
    """
    path = cache_dir() / f"corpus-py{platform.python_version()}-v{FORMAT_VERSION}-{min_chars}.txt"
    if cache and path.is_file():
        return path.read_text(encoding="utf-8")
    text = DOC_SEP.join(_documents(itertools.chain(_stdlib_sources(), _topup_sources()), min_chars))
    if len(text) < min_chars:
        warn(f"only {len(text):,} characters of offline prose found (asked for {min_chars:,})")
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # atomic: parallel workers may race
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return text


def split_documents(text: str) -> list[str]:
    """The documents of a corpus text (separated by blank lines)."""
    return [d for d in text.split(DOC_SEP) if d.strip()]


def split_corpus(text: str, test_fraction: float = 0.01) -> tuple[str, str]:
    """(train, test) texts split at document boundaries, about `test_fraction` of the characters in test.

    Walking the documents in order, one goes to test whenever that keeps the test share of
    the text so far at or below `test_fraction`; so the test documents are spread over the
    whole corpus and the split depends only on the text. With two or more documents, test
    gets at least one (the last, if none fits).
    """
    if not 0 < test_fraction < 1:
        from alignpipe.core.errors import AlignpipeError

        raise AlignpipeError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    docs = split_documents(text)
    test_ids: set[int] = set()
    seen = test_chars = 0
    for i, doc in enumerate(docs):
        seen += len(doc)
        if test_chars + len(doc) <= test_fraction * seen:
            test_ids.add(i)
            test_chars += len(doc)
    if not test_ids and len(docs) >= 2:
        test_ids = {len(docs) - 1}
    train = DOC_SEP.join(d for i, d in enumerate(docs) if i not in test_ids)
    test = DOC_SEP.join(d for i, d in enumerate(docs) if i in test_ids)
    return train, test
