"""The values table of charts/ateda/README.md, generated from values.yaml (keys and
defaults) and values.schema.json (meanings), so the three cannot drift apart.

    python tests/deploy/chart_values_doc.py          # print the table
    python tests/deploy/chart_values_doc.py --write  # rewrite it in the README

tests/deploy/test_chart_ateda.py checks the README holds exactly this table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "ateda"
BEGIN = "<!-- values-table:begin (generated: python tests/deploy/chart_values_doc.py --write) -->"
END = "<!-- values-table:end -->"


def _default(value) -> str:
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{json.dumps(value)}`"


def rows(values: dict, schema: dict, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, meaning): one row per leaf of values.yaml; an object the schema
    leaves free-form (no `properties`, e.g. resources) is one row."""
    out = []
    props = schema.get("properties", {})
    for key, value in values.items():
        path = f"{prefix}{key}"
        node = props.get(key)
        if node is None:
            if schema.get("additionalProperties", True) is False or not prefix:
                raise KeyError(f"{path} is in values.yaml but not in values.schema.json")
            # An open object (e.g. a Kubernetes securityContext): its own field.
            node = {"description": f"Kubernetes field of `{prefix.rstrip('.')}`"}
        if isinstance(value, dict) and node.get("properties"):
            out += rows(value, node, f"{path}.")
        else:
            meaning = node.get("description", "")
            if not meaning:
                raise KeyError(f"{path}: no description in values.schema.json")
            out.append((path, _default(value), meaning.replace("|", "\\|")))
    return out


def table() -> str:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    lines = ["| value | default | meaning |", "|---|---|---|"]
    lines += [f"| `{k}` | {d} | {m} |" for k, d, m in rows(values, schema)]
    return "\n".join(lines)


def readme_with_table(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        readme = CHART / "README.md"
        readme.write_text(readme_with_table(readme.read_text()))
    else:
        print(table())
