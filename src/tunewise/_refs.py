"""Model references users can type: ``openai:gpt-4o-mini``, ``local:/models/base+/adapters/x``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tunewise._errors import ModelRefError

_PREFIX = re.compile(r"^[a-z][a-z0-9_\-]*$")


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed model reference.

    ``prefix`` picks the provider (a plugin or a named profile), ``name`` is the model as
    that provider knows it, and ``adapter`` is an optional fine-tuned adapter stacked on
    the base model (``base+adapter``).

    >>> ModelRef.parse("openai:ft:gpt-4o-mini-2024-07-18:org::abc123").name
    'ft:gpt-4o-mini-2024-07-18:org::abc123'
    >>> ModelRef.parse("local:/models/base+/adapters/support").adapter
    '/adapters/support'
    """

    prefix: str
    name: str
    adapter: str | None = None

    @classmethod
    def parse(cls, ref: str | ModelRef) -> ModelRef:
        """Parse ``prefix:name[+adapter]``; a bad string gets a one-line ModelRefError."""
        if isinstance(ref, ModelRef):
            return ref
        if not isinstance(ref, str):
            raise ModelRefError(f"model reference must be a string, got {type(ref).__name__}")
        text = ref.strip()
        if ":" not in text:
            raise ModelRefError(
                f"model reference {ref!r} has no provider prefix; write it as PREFIX:MODEL, "
                f"e.g. 'openai:{text or 'gpt-4o-mini'}' or 'local:/path/to/model'"
            )
        prefix, _, rest = text.partition(":")
        if not _PREFIX.match(prefix):
            raise ModelRefError(
                f"model reference {ref!r}: prefix {prefix!r} must be lower-case letters, "
                "digits, '-' or '_', starting with a letter"
            )
        base, plus, adapter = rest.partition("+")
        if not base:
            raise ModelRefError(f"model reference {ref!r} names no model after '{prefix}:'")
        if plus and not adapter:
            raise ModelRefError(f"model reference {ref!r} has '+' but no adapter after it")
        if any(c.isspace() for c in rest):
            raise ModelRefError(f"model reference {ref!r} contains white space")
        return cls(prefix=prefix, name=base, adapter=adapter or None)

    def __str__(self) -> str:
        adapter = f"+{self.adapter}" if self.adapter else ""
        return f"{self.prefix}:{self.name}{adapter}"

    @property
    def model(self) -> str:
        """The name a provider receives in `ChatRequest.model` (with any adapter)."""
        return f"{self.name}+{self.adapter}" if self.adapter else self.name
