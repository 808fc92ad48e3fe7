"""Validate helm-values/ against the official Dagster chart's values schemas, offline.

For each environment the values Helm would use are built as Helm builds them:
the chart's defaults (``../shared/data/dagster-chart/values.yaml``), then
``helm-values/values.yaml``, then ``helm-values/values-ENV.yaml``, merged
deeply (maps merge, lists and scalars replace, ``null`` deletes). The result is
validated with ``jsonschema`` against the chart's ``values.schema.json``; the
``dagster-user-deployments`` subchart's values (its defaults, the parent's
section and ``global``) against the subchart's schema.

Both schemas refer to Kubernetes definitions by URL; a ``referencing``
registry serves that URL from the Kubernetes schemas bundled with
kubernetes-validate, so nothing is downloaded. The chart extends some
Kubernetes objects (``enabled`` in its probes), so the chart schemas get the
lenient flavour; the Kubernetes objects *we* write (security contexts,
resources, volumes, mounts) are also checked against the strict flavour, where
a misspelt field is an error.

Run with the deploy tools' Python (jsonschema, referencing and
kubernetes-validate live there, not in the project's environment)::

    .tools/deploy-venv/bin/python tests/deploy/chart_values.py SHARED_DIR ENV...

Prints one line per error and exits 1 if there is any.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

REPO = Path(__file__).resolve().parents[2]
K8S_DEFINITIONS_URL = (
    "https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/"
    "v1.19.0/_definitions.json"
)
K8S_VERSION = "v1.37.0-local"
# Our Kubernetes-typed values, by key (and by parent key where the name is ambiguous).
K8S_TYPED = {
    "podSecurityContext": "io.k8s.api.core.v1.PodSecurityContext",
    "securityContext": "io.k8s.api.core.v1.SecurityContext",
    "resources": "io.k8s.api.core.v1.ResourceRequirements",
    "initContainerResources": "io.k8s.api.core.v1.ResourceRequirements",
}
K8S_TYPED_ITEMS = {
    "volumes": "io.k8s.api.core.v1.Volume",
    "volumeMounts": "io.k8s.api.core.v1.VolumeMount",
}
K8S_TYPED_UNDER = {("podSpecConfig", "securityContext"): "io.k8s.api.core.v1.PodSecurityContext"}
SUBCHART = "dagster-user-deployments"


def helm_merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of an override onto a base: maps merge, ``None`` deletes a key."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = helm_merge(merged.get(key), value)
        return merged
    return copy.deepcopy(override)


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: not a mapping")
    return data


def kubernetes_registry(flavour: str = K8S_VERSION) -> Registry[Any]:
    """A registry that answers the chart's Kubernetes ``$ref`` URL from local files."""
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    document = json.loads((root / flavour / "_definitions.json").read_text("utf-8"))
    definitions = document["$defs"]
    # The chart points at "#/definitions/…" (the old layout); the bundled file
    # keeps them under "$defs" and refers to "#/$defs/…" internally: serve both.
    contents = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": definitions,
        "definitions": definitions,
    }
    return Registry().with_resource(K8S_DEFINITIONS_URL, DRAFT202012.create_resource(contents))


def errors_for(values: Any, schema: dict[str, Any], registry: Registry[Any]) -> list[str]:
    """Every schema error in ``values``, one line each, with its path."""
    default = jsonschema.Draft202012Validator
    validator = jsonschema.validators.validator_for(schema, default=default)(
        schema, registry=registry
    )
    found = []
    for error in sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path) or "(top)"
        found.append(f"{path}: {error.message[:300]}")
    return found


def typed_objects(node: Any, path: tuple[str, ...] = ()) -> list[tuple[str, str, Any]]:
    """``(path, definition, value)`` for each Kubernetes object in our values."""
    found: list[tuple[str, str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = (*path, str(key))
            definition = K8S_TYPED_UNDER.get((path[-1] if path else "", key)) or K8S_TYPED.get(key)
            if definition and isinstance(value, dict):
                found.append((".".join(here), definition, value))
            elif key in K8S_TYPED_ITEMS and isinstance(value, list):
                found += [
                    (f"{'.'.join(here)}.{i}", K8S_TYPED_ITEMS[key], item)
                    for i, item in enumerate(value)
                ]
            else:
                found += typed_objects(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += typed_objects(item, (*path, str(i)))
    return found


def strict_errors(ours: dict[str, Any], registry: Registry[Any]) -> list[str]:
    """Our Kubernetes objects against the strict definitions (unknown fields rejected)."""
    problems = []
    for path, definition, value in typed_objects(ours):
        schema = {"$ref": f"{K8S_DEFINITIONS_URL}#/definitions/{definition}"}
        problems += [f"{path}: {e}" for e in errors_for(value, schema, registry)]
    return problems


def check_environment(
    shared: Path, env: str, registry: Registry[Any], strict: Registry[Any]
) -> list[str]:
    chart = shared / "data" / "dagster-chart"
    ours = helm_merge(
        load_yaml(REPO / "helm-values" / "values.yaml"),
        load_yaml(REPO / "helm-values" / f"values-{env}.yaml"),
    )
    values = helm_merge(load_yaml(chart / "values.yaml"), ours)
    schema = json.loads((chart / "values.schema.json").read_text("utf-8"))
    problems = [f"{env}: chart: {e}" for e in errors_for(values, schema, registry)]
    problems += [f"{env}: strict Kubernetes: {e}" for e in strict_errors(ours, strict)]

    sub = chart / "charts" / SUBCHART
    sub_values = helm_merge(load_yaml(sub / "values.yaml"), values.get(SUBCHART, {}))
    sub_values["global"] = helm_merge(sub_values.get("global", {}), values.get("global", {}))
    sub_schema = json.loads((sub / "values.schema.json").read_text("utf-8"))
    problems += [f"{env}: {SUBCHART}: {e}" for e in errors_for(sub_values, sub_schema, registry)]
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(f"usage: {argv[0]} SHARED_DIR ENV...", file=sys.stderr)
        return 2
    shared = Path(argv[1])
    registry = kubernetes_registry()
    strict = kubernetes_registry(f"{K8S_VERSION}-strict")
    problems: list[str] = []
    for env in argv[2:]:
        problems += check_environment(shared, env, registry, strict)
    for line in problems:
        print(line)
    if not problems:
        print(f"helm-values valid against the chart schemas for: {', '.join(argv[2:])}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
