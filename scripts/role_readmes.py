#!/usr/bin/env python3
"""Writes the variables section of every role's README.md from its meta/argument_specs.yml.

Each roles/<role>/README.md is hand-written (what the role does, an example) except for the part
between the two markers below, which this script regenerates: one table row per argument-spec
option, so a README cannot fall behind the role's real inputs. ``--check`` changes nothing and
exits 1 naming each README that is out of date (tests/unit/test_role_readmes.py runs it).
"""

import argparse
import os
import re
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BEGIN = "<!-- BEGIN variables: generated from meta/argument_specs.yml by scripts/role_readmes.py -->"
END = "<!-- END variables -->"
# Ansible's documentation markup (C(), V(), E(), M(), I(), B(), O()) as Markdown.
MARKUP = re.compile(r"\b([CVEMIBO])\(([^()]*)\)")


def markdown(text):
    """One line of Markdown from an argument-spec description (a string or a list of them)."""
    if isinstance(text, list):
        text = " ".join(text)
    text = " ".join(str(text or "").split())

    def repl(match):
        kind, body = match.groups()
        if kind in ("I", "B"):
            return ("*%s*" if kind == "I" else "**%s**") % body
        return "`%s`" % body

    return MARKUP.sub(repl, text).replace("|", "\\|")


def _default(option):
    if "default" not in option:
        return ""
    value = option["default"]
    if isinstance(value, bool):
        return "`%s`" % str(value).lower()
    return "`%s`" % yaml.safe_dump(value, default_flow_style=True, width=10 ** 6).strip().replace("\n...", "").strip()


def section(spec):
    """The generated Markdown for one role's ``argument_specs.main``."""
    lines = [BEGIN, "## Variables", "", markdown(spec.get("short_description", "")), ""]
    options = spec.get("options") or {}
    lines += ["| variable | type | required | default | description |", "|---|---|---|---|---|"]
    for name in sorted(options):
        option = options[name] or {}
        kind = option.get("type", "str")
        if kind == "list" and option.get("elements"):
            kind = "list of %s" % option["elements"]
        choices = option.get("choices")
        description = markdown(option.get("description", ""))
        if choices:
            description += " Choices: %s." % ", ".join("`%s`" % c for c in choices)
        lines.append("| `%s` | %s | %s | %s | %s |" % (
            name, kind, "yes" if option.get("required") else "no", _default(option), description))
    lines += ["", END]
    return "\n".join(lines)


def roles():
    base = os.path.join(ROOT, "roles")
    return sorted(r for r in os.listdir(base) if os.path.isfile(os.path.join(base, r, "meta", "argument_specs.yml")))


def load_spec(role):
    with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]


def render(role, current):
    """The README with its generated section replaced (appended when it has none)."""
    generated = section(load_spec(role))
    if current is None:
        current = "# private_ai.llm_serving.%s\n\n%s\n" % (role, markdown(load_spec(role).get("short_description")))
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        return head + generated + tail
    return current.rstrip("\n") + "\n\n" + generated + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a README is out of date")
    args = parser.parse_args(argv)
    stale = []
    for role in roles():
        path = os.path.join(ROOT, "roles", role, "README.md")
        current = open(path).read() if os.path.exists(path) else None
        wanted = render(role, current)
        if wanted != current:
            stale.append(os.path.relpath(path, ROOT))
            if not args.check:
                with open(path, "w") as handle:
                    handle.write(wanted)
    if args.check and stale:
        print("out of date (run scripts/role_readmes.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    for path in stale:
        print("wrote " + path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
