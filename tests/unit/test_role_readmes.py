"""Every role has a README that documents exactly its argument-spec options (scripts/role_readmes.py)."""

import importlib.util
import os

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
spec = importlib.util.spec_from_file_location("role_readmes", os.path.join(ROOT, "scripts", "role_readmes.py"))
role_readmes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(role_readmes)

ROLES = sorted(os.listdir(os.path.join(ROOT, "roles")))


def test_every_role_has_an_argument_spec_and_galaxy_meta():
    for role in ROLES:
        assert os.path.isfile(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")), role
        with open(os.path.join(ROOT, "roles", role, "meta", "main.yml")) as handle:
            assert yaml.safe_load(handle)["galaxy_info"]["description"], role


@pytest.mark.parametrize("role", ROLES)
def test_readme_lists_every_option_and_has_an_example(role):
    with open(os.path.join(ROOT, "roles", role, "README.md")) as handle:
        readme = handle.read()
    options = role_readmes.load_spec(role).get("options") or {}
    generated = readme.split(role_readmes.BEGIN, 1)[1].split(role_readmes.END, 1)[0]
    listed = [line.split("`")[1] for line in generated.splitlines() if line.startswith("| `")]
    assert sorted(listed) == sorted(options)
    assert "## Example" in readme and "private_ai.llm_serving.%s" % role in readme


def test_readmes_are_up_to_date():
    assert role_readmes.main(["--check"]) == 0, "run scripts/role_readmes.py"


def test_a_new_option_makes_the_readme_stale(monkeypatch):
    real = role_readmes.load_spec

    def with_extra(role):
        spec = real(role)
        spec.setdefault("options", {})["llm_serving_new_option"] = {"type": "str", "description": "New."}
        return spec

    monkeypatch.setattr(role_readmes, "load_spec", with_extra)
    current = open(os.path.join(ROOT, "roles", "summary", "README.md")).read()
    assert "`llm_serving_new_option`" in role_readmes.render("summary", current)
    assert role_readmes.render("summary", current) != current
