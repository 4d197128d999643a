"""A small check of a parsed response against its botocore output shape (tests only).

Used by the self-tests of the sandbox's newer extensions: every member must be
in the shape, every required member present, every enum value allowed.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _model(service: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def shape_errors(service: str, operation: str, response: dict[str, Any]) -> list[str]:
    """Members of `response` that its operation's output shape does not allow, recursively."""
    problems: list[str] = []

    def walk(shape: Any, value: Any, path: str) -> None:
        if shape.type_name == "structure":
            for key, item in value.items():
                if key == "ResponseMetadata":
                    continue
                if key not in shape.members:
                    problems.append(f"{path}.{key}: not in {shape.name}")
                else:
                    walk(shape.members[key], item, f"{path}.{key}")
            problems.extend(f"{path}.{m}: required" for m in shape.required_members
                            if m not in value)
        elif shape.type_name == "list":
            for i, item in enumerate(value):
                walk(shape.member, item, f"{path}[{i}]")
        elif shape.type_name == "map":
            for key, item in value.items():
                walk(shape.value, item, f"{path}[{key!r}]")
        elif shape.type_name == "string" and shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} not in {shape.enum}")

    walk(_model(service).operation_model(operation).output_shape, response, operation)
    return problems
