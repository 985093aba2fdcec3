"""The preflight's list of the profiles the collection ships (roles/preflight/vars/main.yml) is the
list of inventories/<profile>/group_vars/all/models.yml: a static list, so that no task has to look
for them on every run (a find was half a second of each converged site.yml)."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_the_preflight_lists_every_shipped_profile():
    listed = yaml.safe_load((REPO / "roles/preflight/vars/main.yml").read_text())["__pf_profiles"]
    shipped = sorted(p.parts[-4] for p in (REPO / "inventories").glob("*/group_vars/all/models.yml"))
    assert listed == shipped
