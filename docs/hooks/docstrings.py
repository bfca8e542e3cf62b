"""mkdocs hook: a public name in the API reference without a docstring is a warning, so that
`mkdocs build --strict` fails on it.

It reads the `::: module` blocks of docs/reference.md and their `members:` lists, loads those
modules' source with griffe (as mkdocstrings does), and checks every listed class and function,
and every public method and property of those classes.
"""
import logging
import re
from pathlib import Path

import griffe

log = logging.getLogger("mkdocs.hooks.docstrings")
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


def on_config(config):
    loader = griffe.GriffeLoader(search_paths=[str(Path(config.config_file_path).parent)])
    for module_name, members in _documented(config.docs_dir):
        module = loader.load(module_name)
        for path in _undocumented(module, members):
            log.warning("the API reference shows %s, which has no docstring", path)
    return config
