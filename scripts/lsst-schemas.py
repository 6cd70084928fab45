#!/usr/bin/env python3
"""Compose Rubin's split alert schemas into one self-contained schema per version.

Rubin publishes each schema version as several files (`lsst.vM_m.alert.avsc` naming
`lsst.vM_m.diaSource` and others by reference). A writer schema embedded in a container
file, or served by a schema registry, is one document: each named type defined in full
where it is first used and referenced by full name afterwards. This script builds that
document for every version under a schema tree (default: ../shared/data/lsst-alerts/schema)
into crates/ateda-schema/schemas/lsst-M.m.avsc, which the binary bundles. It is a
development tool: run it when Rubin publishes a new version, then commit its output.

    scripts/lsst-schemas.py [SCHEMA_ROOT]
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "ateda-schema" / "schemas"


def compose(version_dir: pathlib.Path) -> dict:
    """The alert schema of one version with every named type inlined once."""
    named = {}
    for path in sorted(version_dir.glob("*.avsc")):
        doc = json.loads(path.read_text())
        full = f"{doc['namespace']}.{doc['name']}" if "namespace" in doc else doc["name"]
        named[full] = doc
    alert = next(k for k in named if k.endswith(".alert"))
    seen = set()

    def expand(t, namespace):
        if isinstance(t, str):
            full = t if "." in t else f"{namespace}.{t}"
            if full in named and full not in seen:
                seen.add(full)
                return record(named[full])
            return full if full in named else t
        if isinstance(t, list):
            return [expand(x, namespace) for x in t]
        if isinstance(t, dict):
            if t.get("type") == "array":
                return {**t, "items": expand(t["items"], namespace)}
            if t.get("type") == "map":
                return {**t, "values": expand(t["values"], namespace)}
            if t.get("type") == "record":
                return record(t)
        return t

    def record(doc):
        ns = doc.get("namespace", "")
        out = {k: v for k, v in doc.items() if k not in ("fields", "namespace")}
        if ns and "." not in doc["name"]:
            out["name"] = f"{ns}.{doc['name']}"
        out["fields"] = [{**f, "type": expand(f["type"], ns)} for f in doc["fields"]]
        return out

    seen.add(alert)
    return record(named[alert])


def main() -> None:
    src = (
        pathlib.Path(sys.argv[1])
        if len(sys.argv) > 1
        else ROOT.parent / "shared" / "data" / "lsst-alerts" / "schema"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    for major in sorted(src.iterdir(), key=lambda p: p.name):
        if not major.is_dir():
            continue
        for minor in sorted(major.iterdir(), key=lambda p: p.name):
            schema = compose(minor)
            target = OUT / f"lsst-{major.name}.{minor.name}.avsc"
            target.write_text(json.dumps(schema, separators=(",", ":")) + "\n")
            print(target.relative_to(ROOT))


if __name__ == "__main__":
    main()
