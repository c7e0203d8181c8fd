"""The wheel carries what an installed `tog` needs, and works without the checkout (style.md §6).

The wheel is built from the repository root with pip and hatchling (no build isolation, no network),
installed with ``pip install --target`` into a temporary folder, and imported by a fresh
``python -P`` whose only source of `tog` is that folder. The checkout's editable install is still on
``sys.path`` there, so the probe also checks that nothing it loaded came from the checkout.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tog.templates import PROMPT_NAMES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
DATA_FILES = ("tog/data/default_kg.tsv", "tog/data/relation_lexicon.tsv")

PROBE = textwrap.dedent(
    """
    import json, sys
    from importlib import resources

    import kg_adapters
    import tog
    from tog.templates import PROMPT_NAMES, default_prompt_dir, load_prompts

    prompts = load_prompts()
    rendered = {}
    for name in PROMPT_NAMES:
        prompt = prompts[name]
        values = {key: f"<{key}>" for key in sorted(prompt.placeholders)}
        messages = prompt.render(**values)
        rendered[name] = {
            "roles": [m.role for m in messages],
            "values_in_last": all(v in messages[-1].content for v in values.values()),
        }
    kg_file = resources.files("tog").joinpath("data/default_kg.tsv")
    result = tog.answer("Who directed Inception?", kg=kg_adapters.load_graph(str(kg_file)))
    loaded = sorted(
        str(getattr(module, "__file__", None) or "")
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in ("tog", "kg_adapters")
    )
    print(json.dumps({
        "tog": tog.__file__,
        "kg_adapters": kg_adapters.__file__,
        "prompt_dir": str(default_prompt_dir()),
        "rendered": rendered,
        "py_typed": {
            "tog": resources.files("tog").joinpath("py.typed").is_file(),
            "kg_adapters": resources.files("kg_adapters").joinpath("py.typed").is_file(),
        },
        "kg_file": str(kg_file),
        "lexicon": resources.files("tog").joinpath("data/relation_lexicon.tsv").is_file(),
        "answer": result.answer,
        "answers": list(result.answers),
        "modules": loaded,
    }))
    """
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, site): the wheel built from the checkout and the folder it was installed into."""
    tmp = tmp_path_factory.mktemp("packaging")
    dist, site = tmp / "dist", tmp / "site"
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), "."],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    [wheel] = dist.glob("think_on_graph-*.whl")
    subprocess.run(
        [*PIP, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        cwd=tmp,
        check=True,
        capture_output=True,
        text=True,
    )
    return wheel, site


@pytest.fixture(scope="module")
def probe(built: tuple[Path, Path]) -> dict[str, object]:
    """What a fresh interpreter sees when `tog` comes only from the installed wheel."""
    _, site = built
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run(
        [sys.executable, "-P", "-c", PROBE],
        cwd=site.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def dist_info_file(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        [path] = [n for n in archive.namelist() if n.endswith(f".dist-info/{name}")]
        return archive.read(path).decode("utf-8")


def under(path: object, folder: Path) -> bool:
    return isinstance(path, str) and Path(path).resolve().is_relative_to(folder.resolve())


# --- the wheel's contents ------------------------------------------------------------------------


def test_wheel_carries_the_prompts_under_tog(built: tuple[Path, Path]) -> None:
    names = wheel_names(built[0])

    assert {f"tog/prompts/{name}.txt" for name in PROMPT_NAMES} <= names
    assert not any(n.startswith("prompts/") for n in names), "prompts/ must move under tog/"


def test_wheel_carries_py_typed_in_both_packages(built: tuple[Path, Path]) -> None:
    assert {"tog/py.typed", "kg_adapters/py.typed"} <= wheel_names(built[0])


def test_wheel_carries_the_embedded_data(built: tuple[Path, Path]) -> None:
    assert set(DATA_FILES) <= wheel_names(built[0])


def test_wheel_carries_the_code(built: tuple[Path, Path]) -> None:
    names = wheel_names(built[0])

    for module in ("tog/__init__.py", "tog/templates.py", "tog/cli.py", "kg_adapters/__init__.py"):
        assert module in names
    assert not any(n.startswith("tests/") for n in names)


def test_wheel_metadata(built: tuple[Path, Path]) -> None:
    metadata = Parser().parsestr(dist_info_file(built[0], "METADATA"))

    assert metadata["Name"] == "think-on-graph"
    assert metadata["Requires-Python"] == ">=3.11"


def test_wheel_declares_the_tog_console_script(built: tuple[Path, Path]) -> None:
    entry_points = dist_info_file(built[0], "entry_points.txt")

    parser = configparser.ConfigParser()
    parser.read_string(entry_points)
    scripts = dict(parser["console_scripts"])
    assert scripts == {"tog": "tog.cli:main"}


# --- the installed wheel, imported by a fresh interpreter ---------------------------------------


def test_installed_packages_come_from_the_wheel(
    built: tuple[Path, Path], probe: dict[str, object]
) -> None:
    _, site = built

    assert under(probe["tog"], site)
    assert under(probe["kg_adapters"], site)
    modules = probe["modules"]
    assert isinstance(modules, list)
    assert modules
    assert all(under(path, site) for path in modules if path), modules


def test_installed_prompts_load_and_render(
    built: tuple[Path, Path], probe: dict[str, object]
) -> None:
    _, site = built

    assert under(probe["prompt_dir"], site / "tog")
    rendered = probe["rendered"]
    assert isinstance(rendered, dict)
    assert set(rendered) == set(PROMPT_NAMES)
    for name, facts in rendered.items():
        assert facts["roles"][0] == "system", name
        assert facts["roles"][-1] == "user", name
        assert facts["values_in_last"], name


def test_installed_packages_have_py_typed(probe: dict[str, object]) -> None:
    assert probe["py_typed"] == {"tog": True, "kg_adapters": True}


def test_installed_wheel_answers_from_its_default_graph(
    built: tuple[Path, Path], probe: dict[str, object]
) -> None:
    _, site = built

    assert under(probe["kg_file"], site / "tog" / "data")
    assert probe["lexicon"] is True
    assert probe["answer"] == "Christopher Nolan"
    assert probe["answers"][0] == "Christopher Nolan"  # type: ignore[index]
