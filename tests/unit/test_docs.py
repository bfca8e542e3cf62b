"""The shell examples of the README and the docs stay true.

Every command line of every ```bash block is parsed by that command's own argument parser, so an
example that names an option the command no longer has, or a command that does not exist,
fails, and every local link leads to a file. (The blocks marked `<!-- docs-test: run -->` are run
as written: integration/test_docs.py.)
"""
import importlib
import re
import shlex

import pytest

from tests.helpers import DOC_PAGES, PYPROJECT, REPO_ROOT, bash_blocks

SCRIPTS = {name: target.split(":")[0] for name, target in PYPROJECT["project"]["scripts"].items()}
# The reference's scripts, each a shim that runs one command module: demo_syncnet.py -> syncnet.cli.demo.
MODULE_OF_SCRIPT = {path.name: match[1] for path in REPO_ROOT.glob("*.py")
                    if (match := re.search(r"^from (syncnet\.cli\.\w+) import main$", path.read_text(), re.M))}
PARSERS = {**SCRIPTS, **MODULE_OF_SCRIPT, "benchmarks/bench.py": "benchmarks.bench",
           "syncnet.batch": "syncnet.cli.batch", "syncnet.eval": "syncnet.cli.eval",
           **{script[:-3]: module for script, module in MODULE_OF_SCRIPT.items()}}


def commands(block):
    """Each simple command of a block: continuation lines joined, comments dropped, split at
    && ; and |, and leading VAR=value assignments removed."""
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        command = []
        for word in [*words, "&&"]:
            if word in ("&&", ";", "|", "||"):
                while command and re.fullmatch(r"[A-Z_]+=.*", command[0]):
                    command.pop(0)
                if command:
                    yield command
                command = []
            else:
                command.append(word)


def parser_and_args(command):
    """(the parser module's name, its arguments) for a command of ours; None for anyone else's
    (pip, bash, ray, ...)."""
    if command[0] in ("python", "python3") and len(command) > 1:
        if command[1] == "-m" and len(command) > 2:
            return PARSERS.get(command[2]), command[3:]
        return PARSERS.get(command[1]), command[2:]
    if command[0].startswith("syncnet-"):
        return PARSERS.get(command[0], "unknown command"), command[1:]
    return None, None


EXAMPLES = [(str(page), command) for page, block in bash_blocks() for command in commands(block)
            if parser_and_args(command)[0] is not None or command[0].startswith("syncnet-")]


def test_the_examples_are_found():
    """The extraction itself: a README and docs with their dozens of examples are all seen."""
    assert len(EXAMPLES) > 20
    assert {page for page, _ in EXAMPLES} >= {"README.md", "docs/batch.md", "docs/eval.md", "docs/pipeline.md"}


@pytest.mark.parametrize("page, command", EXAMPLES, ids=[f"{p}: {' '.join(c)[:60]}" for p, c in EXAMPLES])
def test_every_example_parses_with_its_commands_own_options(page, command):
    module, args = parser_and_args(command)
    assert module != "unknown command", f"{page}: {command[0]} is not a console command of pyproject.toml"
    parser = importlib.import_module(module).build_parser()
    if "..." in args:  # an elided example ("syncnet-batch ... --ray_address auto"): its options exist
        known = parser._option_string_actions
        unknown = [arg for arg in args if arg.startswith("--") and arg.split("=")[0] not in known]
        assert not unknown, f"{page}: {shlex.join(command)}: no such option {unknown}"
        return
    try:
        parser.parse_args(args)
    except SystemExit as error:
        pytest.fail(f"{page}: {shlex.join(command)} does not parse (exit {error.code})")


def test_local_links_of_the_readme_and_the_docs_exist():
    broken = []
    for page in DOC_PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            path = (page.parent / target).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(REPO_ROOT)} -> {target}")
    assert not broken




def _docstrings_hook():
    """docs/hooks/docstrings.py, the mkdocs hook that checks the API reference's docstrings."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("docstrings_hook", REPO_ROOT / "docs" / "hooks" / "docstrings.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


@pytest.mark.docs_tools
@pytest.mark.timeout(60)
def test_the_api_reference_renders_every_documented_name():
    """What mkdocstrings would render wrong without a warning: a `name: text` line with an
    indented block below it became a collapsible box that hides the name (VideoScorer.score's
    work_dir, Protocol.pipeline_overrides, VideoOutcome.status), and griffe's warnings (an Args:
    entry not in the signature). The same check runs in `mkdocs build --strict`."""
    hook = _docstrings_hook()
    documented = hook.load_documented(REPO_ROOT, REPO_ROOT / "docs")
    assert sum(1 for module, members in documented for _ in hook._shown(module, members)) > 50
    problems = [problem for module, members in documented for problem in hook.misrendered(module, members)]
    assert not problems, "\n".join(problems)


@pytest.mark.docs_tools
def test_the_docstring_check_finds_a_hidden_name_and_a_stray_argument():
    import griffe

    hook = _docstrings_hook()
    module = griffe.visit("example", filepath=REPO_ROOT / "example.py", code='''
def hidden(work_dir=None):
    """Score it.

    work_dir: where the folders go (default: a temporary folder,
        removed after).
    """


def stray(path):
    """Score it.

    Args:
        path: the video.
        folder: not an argument.
    """
''')
    problems = sorted(hook.misrendered(module, ["hidden", "stray"]))
    assert len(problems) == 2, problems
    assert "example.hidden: `work_dir:`" in problems[0] and "example.stray" in problems[1], problems


def test_the_demo_describes_its_own_min_conf():
    """The demo scores one video: its --min_conf is no vote over tracks (run_syncnet's meaning)."""
    from syncnet.cli.demo import build_parser

    (action,) = [action for action in build_parser()._actions if "--min_conf" in action.option_strings]
    assert "track" not in action.help and "timeline" in action.help and "--write_synced" in action.help
