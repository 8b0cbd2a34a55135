"""A detector's documentation as plain text: its summary, its full text, what each
hyperparameter means.

Docstrings are written in reStructuredText (````code````, ``:class:`~a.B```, ``*em*``); a terminal
shows them without the markup. A hyperparameter's meaning is read, in order, from a numpydoc
``Parameters`` section of the class (or of a class it derives from), from the first sentence of
the class's text that names it in ````code````, or, for the conventions every detector shares
(:data:`SHARED`), from there.
"""

from __future__ import annotations

import inspect
import re

#: Hyperparameters with one meaning wherever a detector takes them (the contract's conventions).
SHARED = {
    "timezone": "IANA time zone of the detector's days and hours (none: the dataset's own)",
    "seed": "seed of the detector's own random numbers: the same seed gives the same scores",
}

_RST_ROLE = re.compile(r":[a-z:]+:`(?:([^`<]*?)\s*<[^`>]*>|~?(?:[\w.]*\.)?([^`]*))`")
_SECTION = re.compile(r"^(?P<title>[A-Z][A-Za-z ]+)\n-{3,}\s*$", re.M)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")


def strip_rst(text: str) -> str:
    """Text without its reStructuredText markup: ``code``, :role:`~a.b.Name`, *em*, **strong**."""
    text = _RST_ROLE.sub(lambda m: m.group(1) or m.group(2), text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"(?<![\w`])`([^`]+)`(?!\w)", r"\1", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\1", text)


def doc_of(obj: object) -> str:
    """The docstring of ``obj`` (its own, not inherited), cleaned of indentation."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _sections(doc: str) -> tuple[str, dict[str, str]]:
    """The text before the first numpydoc section, and each section's body by title."""
    found = list(_SECTION.finditer(doc))
    if not found:
        return doc, {}
    sections = {}
    for i, m in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(doc)
        sections[m["title"].strip().lower()] = doc[m.end():end]
    return doc[:found[0].start()], sections


def paragraphs(doc: str) -> list[str]:
    """A text's paragraphs, each on one line for the terminal to wrap; a line starting a list
    item (``-``, ``*``) or indented keeps its own line."""
    out = []
    for block in re.split(r"\n\s*\n", doc.strip()):
        lines: list[str] = []
        for line in block.splitlines():
            if lines and not re.match(r"\s|[-*] ", line):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.rstrip())
        out.append("\n".join(lines))
    return [p for p in out if p]


def text(cls: type) -> str:
    """The class's full text, without markup or its Parameters section."""
    body, _ = _sections(doc_of(cls))
    return "\n\n".join(paragraphs(strip_rst(body)))


def summary(cls: type, longest: int = 160) -> str:
    """The class's first paragraph on one line, without markup; its first sentence if the
    paragraph is longer than ``longest`` characters ("" if undocumented). Never cut mid-sentence."""
    found = paragraphs(strip_rst(_sections(doc_of(cls))[0]))
    if not found:
        return ""
    first = " ".join(found[0].split())
    return first if len(first) <= longest else _SENTENCE_END.split(first)[0]


def param_docs(cls: type, names: list[str]) -> dict[str, str]:
    """What each hyperparameter in ``names`` means, as one line of plain text ("" if nowhere said)."""
    out: dict[str, str] = {}
    for klass in inspect.getmro(cls):
        for name, meaning in _numpydoc_params(doc_of(klass)).items():
            out.setdefault(name, meaning)
    body = " ".join(_sections(doc_of(cls))[0].split())
    sentences = _SENTENCE_END.split(body)
    for name in names:
        if name in out:
            continue
        said = next((s for s in sentences if f"``{name}``" in s), None)
        out[name] = strip_rst(said) if said else SHARED.get(name, "")
    return {n: out.get(n, "") for n in names}


def _numpydoc_params(doc: str) -> dict[str, str]:
    """``name : type`` lines of a ``Parameters`` section, each with its indented description."""
    section = _sections(doc)[1].get("parameters", "")
    out: dict[str, str] = {}
    name = None
    for line in section.splitlines():
        if line and not line[0].isspace():
            name = line.split(":")[0].strip()
            for n in (x.strip() for x in name.split(",")):
                out[n] = ""
        elif name and line.strip():
            for n in (x.strip() for x in name.split(",")):
                out[n] = (out[n] + " " + line.strip()).strip()
    return {n: strip_rst(m) for n, m in out.items()}
