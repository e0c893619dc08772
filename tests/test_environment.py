"""environment.yml (conda) and pyproject.toml (pip) describe one environment."""
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (the test extra installs it there)
    import tomli as tomllib

import yaml

ROOT = Path(__file__).resolve().parents[1]
# conda names a few packages differently from PyPI.
CONDA_TO_PYPI = {"pytorch": "torch", "python-graphviz": "graphviz"}


def _split(req: str):
    req = req.split(";")[0]  # an environment marker does not change the bound
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", req).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = meta["optional-dependencies"]
    # conda users get one environment that runs the tests and JupyterLab.
    reqs = list(meta["dependencies"]) + list(extras["test"]) + list(extras["notebook"])
    return dict(_split(r) for r in reqs), meta


def _conda():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = _split(dep)
            if name in {"python", "pip"}:
                continue
            out[CONDA_TO_PYPI.get(name, name)] = spec
    return out, env


def test_same_packages_and_bounds():
    pip_reqs, _ = _pyproject()
    conda_reqs, _ = _conda()
    assert conda_reqs == pip_reqs


def test_python_range_agrees():
    _, meta = _pyproject()
    _, env = _conda()
    python = [d for d in env["dependencies"] if isinstance(d, str) and _split(d)[0] == "python"]
    assert python == ["python" + meta["requires-python"].replace(" ", "")]


def test_lower_bounds_only():
    pip_reqs, _ = _pyproject()
    for name, spec in pip_reqs.items():
        assert spec.startswith(">="), f"{name}{spec}: only lower bounds belong in the package metadata"
        assert "==" not in spec and "<" not in spec, f"{name}{spec}"


def test_environment_installs_the_project():
    _, env = _conda()
    pip_section = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_section and "-e ." in pip_section[0]["pip"]
