"""The price catalog: dated, sourced prices per model, and prefix-aware lookup.

A catalog is a list of [`PriceEntry`][tunewise.costs.PriceEntry]. The one shipped in the package
(``prices.toml``) holds published prices with their source and the date they were read;
users override or add entries in settings. Lookup understands what users type:
``openai:gpt-4o-mini``, the dated snapshot ``openai:gpt-4o-mini-2024-07-18``, and a
fine-tuned model ``openai:ft:gpt-4o-mini-2024-07-18:org::abc123`` (billed at its base
model's fine-tuned inference price). A model it cannot price is ``None``: never zero.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tunewise._config_error import first_problem
from tunewise._errors import ConfigError, DataError

if TYPE_CHECKING:
    from tunewise._settings import Settings

PerMillion = float
"""US dollars per 1M tokens."""

_SNAPSHOT = re.compile(r"^(?P<base>.+?)-\d{4}-\d{2}-\d{2}$")
"""``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``: OpenAI's dated snapshot names."""

MatchKind = Literal["exact", "alias", "snapshot", "wildcard"]


class Rates(BaseModel):
    """The per-1M-token prices that apply to one kind of call (base or fine-tuned model).

    ``cached_input`` of ``None`` means the provider gives no cache discount: cached
    prompt tokens are billed at ``input``. ``output`` of ``None`` means output tokens are
    not priced (embedding models); a call that produced some cannot be priced.
    """

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    input: PerMillion = Field(ge=0)
    cached_input: PerMillion | None = Field(default=None, ge=0)
    output: PerMillion | None = Field(default=None, ge=0)


class PriceEntry(BaseModel):
    """One model's prices, where they come from and when they were read."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    provider: str = Field(min_length=1)
    """The model reference prefix (``openai``, ``ollama``, ``local``, a profile name)."""
    model: str = Field(min_length=1)
    """The model name after the prefix, or ``*`` for every model of that provider."""
    aliases: tuple[str, ...] = ()
    """Other names billed at the same price (dated snapshots such as ``gpt-4o-2024-08-06``)."""
    input: PerMillion | None = Field(default=None, ge=0)
    cached_input: PerMillion | None = Field(default=None, ge=0)
    output: PerMillion | None = Field(default=None, ge=0)
    batch_discount: float | None = Field(default=None, ge=0, le=1)
    """Fraction of the price the provider's batch API takes off (0.5 = half price)."""
    finetune_training: PerMillion | None = Field(default=None, ge=0)
    """Price per 1M billed training tokens (training tokens x epochs)."""
    finetune_training_per_hour: float | None = Field(default=None, ge=0)
    """For fine-tuning billed by wall-clock hour (OpenAI's reinforcement fine-tuning)."""
    finetune_input: PerMillion | None = Field(default=None, ge=0)
    finetune_cached_input: PerMillion | None = Field(default=None, ge=0)
    finetune_output: PerMillion | None = Field(default=None, ge=0)
    hosting_per_hour: float | None = Field(default=None, ge=0)
    """Dollars per hour to keep a deployment up (your GPU box, a dedicated endpoint)."""
    compute_per_hour: dict[str, float] | None = None
    """Models that run on your own machine (``local``) are priced by the compute time each call
    measured (``Usage.compute_s``, training time too) x this hourly rate, by device kind: ``cpu``,
    a GPU kind such as ``nvidia-h100``, and ``gpu`` for any other GPU."""
    source: str | None = None
    """Where the numbers come from (a URL, or ``tunewise.toml`` for your own)."""
    as_of: date | None = None
    """The date the prices were read from ``source``."""
    note: str | None = None

    @model_validator(mode="after")
    def _has_a_price(self) -> PriceEntry:
        priced = (self.input, self.finetune_input, self.finetune_training, self.finetune_training_per_hour)
        if all(p is None for p in priced) and self.hosting_per_hour is None and self.compute_per_hour is None:
            raise ValueError(
                "an entry needs at least one of input, finetune_input, finetune_training, "
                "finetune_training_per_hour, hosting_per_hour, compute_per_hour"
            )
        for device, rate in (self.compute_per_hour or {}).items():
            if not isinstance(rate, int | float) or not math.isfinite(rate) or rate < 0:
                raise ValueError(f"compute_per_hour.{device}: must be a finite number of dollars >= 0, got {rate!r}")
        if self.compute_per_hour is not None and not self.compute_per_hour:
            raise ValueError("compute_per_hour: name at least one device kind, e.g. { cpu = 0.08 }")
        return self

    @property
    def by_compute(self) -> bool:
        """Priced by measured compute time (a local model), not by tokens."""
        return self.compute_per_hour is not None and self.input is None

    def compute_rate(self, device: str | None) -> tuple[str, float] | None:
        """The ``(device kind, dollars per hour)`` that applies to ``device`` (``cpu``, ``NVIDIA H100 80GB HBM3``).

        The exact kind first, then the longest kind named inside the device's name
        (``nvidia-h100`` in ``nvidia-h100-80gb-hbm3``), then ``gpu`` for any device but the CPU.
        """
        rates = self.compute_per_hour or {}
        kind = _device_kind(device or "cpu")
        if kind in rates:
            return kind, rates[kind]
        inside = [k for k in rates if k not in ("cpu", "gpu") and _device_kind(k) in kind]
        if inside:
            best = max(inside, key=len)
            return best, rates[best]
        if kind != "cpu" and "gpu" in rates:
            return "gpu", rates["gpu"]
        return None

    @property
    def ref(self) -> str:
        """``provider:model`` as users type it."""
        return f"{self.provider}:{self.model}"

    @property
    def base_rates(self) -> Rates | None:
        """Prices for calling the model itself, or ``None`` when not published."""
        if self.input is None:
            return None
        return Rates(input=self.input, cached_input=self.cached_input, output=self.output)

    @property
    def finetuned_rates(self) -> Rates | None:
        """Prices for calling a fine-tune of this model, or ``None`` when it cannot be fine-tuned."""
        if self.finetune_input is None:
            return None
        return Rates(input=self.finetune_input, cached_input=self.finetune_cached_input, output=self.finetune_output)

    def merged(self, override: Mapping[str, Any]) -> PriceEntry:
        """This entry with some fields replaced (a user's override of a shipped price)."""
        fields = {**self.model_dump(exclude_none=True), **override}
        if isinstance(override.get("compute_per_hour"), Mapping) and self.compute_per_hour:
            fields["compute_per_hour"] = {
                **self.compute_per_hour,
                **override["compute_per_hour"],
            }  # one device at a time
        return PriceEntry.model_validate(fields)


def _device_kind(device: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``nvidia-h100-80gb-hbm3``; ``cpu`` stays ``cpu``."""
    return re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")


class PriceQuote(BaseModel):
    """The answer to "what does this model cost?": the entry and the rates that apply."""

    model_config = ConfigDict(frozen=True)

    ref: str
    """The reference asked about, as given."""
    entry: PriceEntry
    rates: Rates | None
    """Per-token prices; ``None`` for a model priced by compute time (``entry.compute_per_hour``)."""
    fine_tuned: bool
    """True when ``ref`` names a fine-tuned model, billed at ``entry``'s fine-tuned rates."""
    matched_by: MatchKind

    def describe(self) -> str:
        """One line saying which price was used and where it comes from."""
        kind = "the fine-tuned inference price of " if self.fine_tuned else ""
        how = "" if self.matched_by == "exact" else f" ({self.matched_by} match)"
        details = [f"as of {self.entry.as_of.isoformat()}"] if self.entry.as_of else []
        if self.entry.source:
            details.append(f"source {self.entry.source}")
        where = f" ({', '.join(details)})" if details else ""
        return f"{self.ref} is priced at {kind}{self.entry.ref}{how}{where}"


def _split(ref: str) -> tuple[str | None, str]:
    """``openai:ft:gpt-4o:org::x`` -> (``openai``, ``ft:gpt-4o:org::x``); a bare name has no prefix."""
    from tunewise._refs import ModelRef

    text = ref.strip()
    if ":" not in text or text.startswith("ft:"):
        return None, text
    parsed = ModelRef.parse(text)
    return parsed.prefix, parsed.model


def _fine_tune_base(name: str) -> str | None:
    """The base model of a fine-tuned model name, or ``None`` for a base model.

    OpenAI names fine-tunes ``ft:BASE:ORG:SUFFIX:ID`` (``ft:gpt-4o-mini-2024-07-18:acme::9x``);
    a local adapter reference ``base+adapter`` is a fine-tune of ``base``.
    """
    if name.startswith("ft:"):
        base = name[3:].split(":", 1)[0]
        return base or None
    if "+" in name:
        return name.split("+", 1)[0] or None
    return None


class PriceCatalog:
    """Entries keyed by ``provider:model`` (and aliases), with prefix-aware lookup.

    Later entries replace earlier ones with the same ``provider:model``, so a catalog
    built as ``shipped + file + settings`` lets users override any shipped price.
    """

    def __init__(self, entries: Iterable[PriceEntry] = ()) -> None:
        self._entries: dict[str, PriceEntry] = {}
        for entry in entries:
            self._entries[entry.ref] = entry
        self._aliases: dict[str, PriceEntry] = {}
        for entry in self._entries.values():
            for alias in entry.aliases:
                self._aliases.setdefault(f"{entry.provider}:{alias}", entry)
        self._quotes: dict[str, PriceQuote | None] = {}
        """Answers already worked out: evaluation prices the same few models thousands of times."""

    @property
    def entries(self) -> list[PriceEntry]:
        """All entries, sorted by reference."""
        return [self._entries[k] for k in sorted(self._entries)]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str) and self.quote(ref) is not None

    def with_entries(self, entries: Iterable[PriceEntry]) -> PriceCatalog:
        """A new catalog: these entries added, replacing any with the same ``provider:model``."""
        return PriceCatalog([*self._entries.values(), *entries])

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]], *, where: str = "settings") -> PriceCatalog:
        """Apply ``{"openai:gpt-4o-mini": {"input": 0.2}, "ollama:*": {"input": 0, ...}}``.

        A key naming a shipped entry changes only the fields given; any other key adds
        an entry (its ``source`` defaults to ``where``). Bad values raise a one-line
        [`ConfigError`][tunewise.ConfigError] naming the key and field.
        """
        added: list[PriceEntry] = []
        for key, fields in overrides.items():
            prefix, name = _split(key)
            if prefix is None:
                raise ConfigError(f"{where}: prices key {key!r} needs a provider prefix, e.g. 'openai:{key}'")
            if not isinstance(fields, Mapping):
                raise ConfigError(f"{where}: prices.{key!r} must be a table of prices, got {fields!r}")
            current = self._entries.get(f"{prefix}:{name}")
            try:
                if current is not None:
                    added.append(
                        current.merged({"source": where, "as_of": None, **fields, "provider": prefix, "model": name})
                    )
                else:
                    added.append(
                        PriceEntry.model_validate({"source": where, **fields, "provider": prefix, "model": name})
                    )
            except ValidationError as exc:
                raise ConfigError(f"{where}: prices.{key!r}: {_first_error(exc)}") from None
        return self.with_entries(added)

    def _find(self, provider: str | None, name: str) -> tuple[PriceEntry, MatchKind] | None:
        providers = [provider] if provider is not None else sorted({e.provider for e in self._entries.values()})
        found: list[tuple[PriceEntry, MatchKind]] = []
        for prov in providers:
            hit = self._find_in(prov, name, wildcard=provider is not None)
            if hit is not None:
                found.append(hit)
        if len(found) > 1:
            refs = ", ".join(e.ref for e, _ in found)
            raise ConfigError(f"model {name!r} has no provider prefix and matches several prices ({refs}); add one")
        return found[0] if found else None

    def _find_in(self, provider: str, name: str, *, wildcard: bool = True) -> tuple[PriceEntry, MatchKind] | None:
        """Exact name, then alias, then the undated name of a snapshot, then ``provider:*``.

        A bare name (no prefix) never matches a wildcard: ``ollama:*`` says nothing about
        ``gpt-4o-mini``.
        """
        exact = self._entries.get(f"{provider}:{name}")
        if exact is not None:
            return exact, "exact"
        alias = self._aliases.get(f"{provider}:{name}")
        if alias is not None:
            return alias, "alias"
        snapshot = _SNAPSHOT.match(name)
        if snapshot is not None:
            hit = self._find_in(provider, snapshot["base"], wildcard=False)
            if hit is not None:
                return hit[0], "snapshot"
        any_model = self._entries.get(f"{provider}:*") if wildcard else None
        if any_model is not None:
            return any_model, "wildcard"
        return None

    def quote(self, ref: str) -> PriceQuote | None:
        """The rates for calling ``ref``, or ``None`` when no price is known.

        A fine-tuned model is priced at its base model's fine-tuned inference rates; an
        entry for the exact fine-tuned name (from settings) wins over that.
        """
        if ref in self._quotes:
            return self._quotes[ref]
        found = self._quote(ref)
        self._quotes[ref] = found
        return found

    def _quote(self, ref: str) -> PriceQuote | None:
        provider, name = _split(ref)
        base = _fine_tune_base(name)
        if base is not None:
            own = self._entries.get(f"{provider}:{name}") if provider else None
            if own is not None and own.base_rates is not None:
                return PriceQuote(ref=ref, entry=own, rates=own.base_rates, fine_tuned=False, matched_by="exact")
            hit = self._find(provider, base)
            if hit is None:
                return None
            if hit[0].by_compute:  # a local adapter runs on the same machine, at the same hourly rate
                return PriceQuote(ref=ref, entry=hit[0], rates=None, fine_tuned=True, matched_by=hit[1])
            rates = hit[0].finetuned_rates
            if rates is None and not name.startswith("ft:"):
                # A local adapter (base+adapter) runs on the base model's hardware at its price.
                rates = hit[0].base_rates
            if rates is None:
                return None
            return PriceQuote(ref=ref, entry=hit[0], rates=rates, fine_tuned=True, matched_by=hit[1])
        hit = self._find(provider, name)
        if hit is None or (hit[0].base_rates is None and not hit[0].by_compute):
            return None
        return PriceQuote(ref=ref, entry=hit[0], rates=hit[0].base_rates, fine_tuned=False, matched_by=hit[1])


def _first_error(exc: ValidationError) -> str:
    field, message, _ = first_problem(exc)
    return f"{field}: {message}" if field else message


def read_price_file(path: str | Path) -> list[PriceEntry]:
    """Entries from a TOML file shaped like the shipped ``prices.toml`` (``[[prices]]`` tables).

    A bad file raises a one-line [`DataError`][tunewise.DataError] naming the file, the entry
    and the field.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read price file: {exc.strerror or exc}", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"not valid TOML: {exc}", path=path) from None
    return _entries_from(data, path)


def _entries_from(data: Mapping[str, Any], path: Path | str) -> list[PriceEntry]:
    raw = data.get("prices")
    if not isinstance(raw, list):
        raise DataError("expected [[prices]] tables", path=path, field="prices")
    entries = []
    for index, item in enumerate(raw):
        try:
            entries.append(PriceEntry.model_validate(item))
        except ValidationError as exc:
            label = item.get("model") if isinstance(item, dict) else None
            where = f"prices[{index}]" + (f" ({label})" if label else "")
            field, message, _ = first_problem(exc)
            raise DataError(message, path=path, field=f"{where}.{field}" if field else where) from None
    return entries


def builtin_entries() -> list[PriceEntry]:
    """The prices shipped with tunewise (``tunewise/costs/prices.toml``)."""
    text = resources.files("tunewise.costs").joinpath("prices.toml").read_text(encoding="utf-8")
    return _entries_from(tomllib.loads(text), "tunewise/costs/prices.toml")


def load_catalog(settings: Settings | None = None) -> PriceCatalog:
    """The shipped prices, then ``settings.prices_file``, then ``settings.prices``; later wins.

    >>> load_catalog().quote("openai:gpt-4o-mini-2024-07-18").entry.ref
    'openai:gpt-4o-mini'
    """
    if settings is None:
        from tunewise._settings import load_settings

        settings = load_settings()
    catalog = PriceCatalog(builtin_entries())
    if settings.prices_file is not None:
        catalog = catalog.with_entries(read_price_file(settings.prices_file))
    if settings.prices:
        from tunewise._settings import config_file_path

        source = config_file_path()
        catalog = catalog.with_overrides(settings.prices, where=str(source) if source else "settings")
    return catalog
