"""A write's own placeholders in the topology's templates: {ref}, {state}, {value[KEY]}.

    WriteFields(ref, state, value) + template -> fill_write -> a template with only the
    topology's placeholders left ({entrypoint}, {url[NAME]}...: Topology.render fills those)
Used by the read-back of acknowledged writes (checks/invariants.py, checks/readers.py) and by
the topology's validation of its templates (with WRITE_EXAMPLE).
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import Any

__all__ = ["WRITE_EXAMPLE", "WriteFields", "fill_write"]


@dataclasses.dataclass(frozen=True)
class WriteFields:
    """What a template may say of one acknowledged write: {ref}, {state}, {value[KEY]}."""

    ref: str
    state: str = ""
    value: dict[str, Any] = dataclasses.field(default_factory=dict)


WRITE_EXAMPLE = WriteFields("REF", "STATE", {})
_WRITE_FIELD = re.compile(r"\{(ref|state|value\[([A-Za-z0-9_.-]+)\])\}")


def fill_write(template: str, write: WriteFields, quote: bool = False) -> str:
    """The write's own placeholders filled (URL-quoted with ``quote``), braces in what they
    bring escaped; the topology's placeholders are left for ``Topology.render``. A
    {value[KEY]} the write has no KEY for becomes empty."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) == "ref":
            text = write.ref
        elif match.group(1) == "state":
            text = write.state
        else:
            text = str(write.value.get(match.group(2), ""))
        if quote:
            text = urllib.parse.quote(text, safe="")
        return text.replace("{", "{{").replace("}", "}}")

    return _WRITE_FIELD.sub(one, template)
