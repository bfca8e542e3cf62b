"""mkdocs hook: a public name in the API reference without a docstring, or a docstring that
renders wrong, is a warning, so that `mkdocs build --strict` fails on it.

It reads the `::: module` blocks of docs/reference.md and their `members:` lists, loads those
modules' source with griffe (as mkdocstrings does), and checks every listed class and function,
and every public method and property of those classes. tests/unit/test_docs.py runs the same
checks (`misrendered`).
"""
import logging
import re
from pathlib import Path

import griffe

log = logging.getLogger("mkdocs.hooks.docstrings")
DOCSTRING_OPTIONS = {"warn_missing_types": False}  # as mkdocs.yml's docstring_options
BLOCK = re.compile(r"^::: (?P<module>[\w.]+)\n(?:[ \t]+options:\n[ \t]+members: \[(?P<members>[^\]]*)\])?", re.M)


def _documented(docs_dir):
    text = (Path(docs_dir) / "reference.md").read_text(encoding="utf-8")
    for match in BLOCK.finditer(text):
        members = [name.strip() for name in (match["members"] or "").split(",") if name.strip()]
        yield match["module"], members


def _undocumented(module, members):
    for name in members or [name for name in module.members if not name.startswith("_")]:
        if name not in module.members:
            yield f"{module.path}.{name} (listed in reference.md, but not found)"
            continue
        member = module.members[name]
        if member.is_alias or member.kind not in (griffe.Kind.CLASS, griffe.Kind.FUNCTION):
            continue
        if not member.docstring:
            yield member.path
        if member.kind is griffe.Kind.CLASS:
            for method in member.members.values():
                if method.name.startswith("_") or method.is_alias or method.docstring:
                    continue
                if method.kind is griffe.Kind.FUNCTION or "property" in method.labels:
                    yield method.path


def _shown(module, members):
    """Every object the reference renders: the listed members and their public members, deeply."""
    pending = [module.members[name] for name in members or module.members if name in module.members]
    while pending:
        member = pending.pop()
        if member.is_alias or member.name.startswith("_"):
            continue
        yield member
        pending.extend(member.members.values())


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def misrendered(module, members):
    """Docstrings that the reference would show wrong, as 'path: why'. Google style (what
    mkdocstrings parses) reads a line `name: text` followed by an indented block as an admonition,
    a box titled `text` that hides `name`: documented arguments and fields belong in an `Args:` or
    `Attributes:` section. griffe's own warnings (an argument not in the signature, a broken
    section) count too."""
    griffe_log = logging.getLogger("griffe")
    for member in _shown(module, members):
        if not member.docstring:
            continue
        collected = _Collect()
        griffe_log.addHandler(collected)
        try:
            sections = member.docstring.parse("google", **DOCSTRING_OPTIONS)
        finally:
            griffe_log.removeHandler(collected)
        for message in collected.messages:
            yield f"{member.path}: {message}"
        for section in sections:
            if section.kind is griffe.DocstringSectionKind.admonition:
                yield (f"{member.path}: `{section.value.kind}:` and its indented block render as a box that "
                       "hides the name; document it in an Args: or Attributes: section")


def load_documented(root, docs_dir):
    """(module, members) for every `::: module` block of reference.md, loaded with griffe."""
    loader = griffe.GriffeLoader(search_paths=[str(root)])
    return [(loader.load(module_name), members) for module_name, members in _documented(docs_dir)]


def on_config(config):
    for module, members in load_documented(Path(config.config_file_path).parent, config.docs_dir):
        for path in _undocumented(module, members):
            log.warning("the API reference shows %s, which has no docstring", path)
        for problem in misrendered(module, members):
            log.warning("the API reference renders a docstring wrong: %s", problem)
    return config
