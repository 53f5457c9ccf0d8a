"""Packaging stays consistent: conda users get the same pins as pip users."""

import tomllib

import yaml

from course_lib.paths import project_root


def test_environment_yml_has_the_same_pins_as_pyproject():
    root = project_root()
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    expected = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    environment = yaml.safe_load((root / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    listed = {d.replace(" ", "") for d in pip_section if d != "-e ."}
    assert listed == {d.replace(" ", "") for d in expected}


def test_console_script_points_at_the_cli():
    project = tomllib.loads((project_root() / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["camp"] == "course_lib.cli:main"
