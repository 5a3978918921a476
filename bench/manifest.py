"""Entry manifests (``entry.toml``): what the leaderboard ranks, validated with errors that name the field.

An entry is either a **recipe** (``[defense]``: a registered defense, or one shipped as ``module`` beside
the manifest, with hyperparameters; robex trains it under the track's budget) or a **checkpoint**
(``[checkpoint]``: a registered architecture, a safetensors file beside the manifest, and its sha256).

Example (``leaderboard/entries/mnist5k/pgd_at.toml``)::

    name = "pgd_at"
    title = "PGD adversarial training"
    authors = "Madry, Makelov, Schmidt, Tsipras, Vladu"
    paper_url = "https://arxiv.org/abs/1706.06083"
    venue = "ICLR 2018"
    license = "MIT"
    track = "mnist5k"

    [defense]
    name = "pgd_at"
    hyperparameters = { eps = 0.3 }
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.hyperparameters import AnyFinite
from bench.manifest_limits import MAX_MANIFEST_BYTES, nesting_problem, value_problem
from bench.track import canonical_json

SLUG = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
# Fields only maintainers set (in leaderboard/entries/); a submitted manifest that carries one is refused.
MAINTAINER_ONLY: Mapping[str, str] = {
    "baseline": "marks robex's own baseline entries; maintainers set it in leaderboard/entries/, never a submission",
    "references": "published numbers maintainers check and show beside baselines; a submission states its own "
    "numbers under [claimed]",
}


class ManifestError(ValueError):
    """A manifest is malformed; the message names the file, the field and the expected form."""


FiniteClaim = Annotated[float, Field(allow_inf_nan=False)]


class DefenseRef(BaseModel):
    """``[defense]``: a registered defense (or a module shipped with the entry) and its hyperparameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[A-Za-z0-9_\-\.]+$", description="a registered defense name")
    module: str | None = Field(default=None, description="a .py file beside the manifest that registers `name`")
    hyperparameters: dict[str, AnyFinite] = Field(default_factory=dict, description="no NaN or infinity")


class CheckpointRef(BaseModel):
    """``[checkpoint]``: weights plus exactly one of a registered ``architecture``, a ``module`` that
    defines the network (any PyTorch architecture; run only in the isolated build, which exports it as a
    graph), or an exported ``graph`` (a robex graph JSON file, as the build writes it: :mod:`bench.graph_format`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    architecture: str = Field(default="", description="a registered architecture name, e.g. small_cnn")
    module: str | None = Field(default=None, description="a .py file beside the manifest defining the network")
    factory: str = Field(default="build_model", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="its builder")
    graph: str | None = Field(default=None, description="a robex graph JSON file beside the manifest")
    graph_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$", description="64 hex digits")
    randomized: bool = Field(default=False, description="the model draws noise at inference (attacks use EOT)")
    file: str = Field(description="a .safetensors file beside the manifest")
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="64 hex digits")
    architecture_kwargs: dict[str, AnyFinite] = Field(default_factory=dict, description="no NaN or infinity")

    @model_validator(mode="after")
    def _one_network(self) -> CheckpointRef:
        given = [k for k in ("architecture", "module", "graph") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"exactly one of architecture, module or graph is required (got {given or 'none'})")
        if (self.graph is None) != (self.graph_sha256 is None):
            raise ValueError("graph and graph_sha256 go together")
        return self

    @field_validator("file")
    @classmethod
    def _safetensors_only(cls, v: str) -> str:
        if not v.endswith(".safetensors"):
            raise ValueError("must be a .safetensors file (robex never unpickles checkpoints)")
        if "/" in v.replace("\\", "/").lstrip("./") and ".." in v:
            raise ValueError("must stay inside the entry folder")
        return v


class Reference(BaseModel):
    """``[[references]]``: a published number for one of the entry's scores (maintained with the baselines).

    The entry page and the index show it beside the measured value with the gap, measured − reference.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    score: str = Field(description="a registered score name, e.g. autoattack_accuracy")
    value: float = Field(allow_inf_nan=False)
    source: str = Field(min_length=1, max_length=300, description="who measured it, and where it is published")
    url: str = Field(pattern=r"^https?://", max_length=500)
    protocol: str = Field(min_length=1, max_length=500, description="data, ε, attack, model and training budget")


class EntryManifest(BaseModel):
    """The whole ``entry.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=SLUG, description="lowercase slug: letters, digits, '_' or '-', at most 64")
    title: str = Field(min_length=1, max_length=200)
    authors: str = Field(min_length=1, max_length=500)
    paper_url: str = Field(default="", max_length=500)
    venue: str = Field(default="", max_length=200)
    license: str = Field(default="unknown", max_length=100)
    track: str = Field(description="a track name, e.g. mnist5k")
    description: str = Field(default="", max_length=2000)
    defense: DefenseRef | None = None
    checkpoint: CheckpointRef | None = None
    claimed: dict[str, FiniteClaim] = Field(default_factory=dict, description="score name -> claimed value")
    payload: tuple[str, ...] = Field(
        default=(),
        max_length=64,
        description="files beside the manifest the entry's code reads (see bench.frontends.payload)",
    )
    baseline: bool = False
    references: tuple[Reference, ...] = ()

    @field_validator("paper_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if v and not (v.startswith("https://") or v.startswith("http://")):
            raise ValueError("must start with https:// or http://")
        return v

    @field_validator("payload")
    @classmethod
    def _inside(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for path in v:
            parts = Path(path).parts
            if not path or Path(path).is_absolute() or ".." in parts or "\\" in path:
                raise ValueError(f"{path!r} must be a relative path inside the entry folder")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> EntryManifest:
        if (self.defense is None) == (self.checkpoint is None):
            raise ValueError("exactly one of [defense] (a recipe) or [checkpoint] (weights) is required")
        return self

    @property
    def kind(self) -> Literal["recipe", "checkpoint"]:
        """``recipe`` or ``checkpoint``."""
        return "recipe" if self.defense is not None else "checkpoint"

    def recipe_json(self) -> str:
        """Canonical JSON of everything that determines the trained weights (part of the train cell key)."""
        part = self.defense.model_dump() if self.defense else self.checkpoint.model_dump()  # type: ignore[union-attr]
        return canonical_json({"kind": self.kind, "track": self.track, "spec": part})


def _format_error(err: ValidationError, where: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = e.get("input")
        got_text = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{where}: field '{loc}': {e['msg']}{got_text}")
    return "\n".join(lines)


def parse_manifest(data: dict[str, Any], where: str = "entry.toml") -> EntryManifest:
    """Validate a parsed manifest dict: the limits of :mod:`bench.manifest_limits` (string and list sizes,
    bidirectional and control characters), then the schema."""
    problem = value_problem(data)
    if problem is not None:
        raise ManifestError(f"{where}: field '{problem.field}': {problem.message}")
    try:
        return EntryManifest.model_validate(data)
    except ValidationError as err:
        raise ManifestError(_format_error(err, where)) from None


def load_manifest(path: str | Path, *, submission: bool = False) -> EntryManifest:
    """Read and validate a manifest file (or the ``entry.toml`` inside a folder); a ``submission`` may not
    carry :data:`MAINTAINER_ONLY` fields."""
    p = Path(path)
    if p.is_dir():
        p = p / "entry.toml"
    if not p.is_file():
        raise ManifestError(f"{p}: no such manifest")
    with p.open("rb") as fh:
        raw = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{p}: larger than {MAX_MANIFEST_BYTES:,} bytes, the most a manifest may hold")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{p}: not valid TOML: {exc}") from None
    deep = nesting_problem(text)
    if deep is not None:
        raise ManifestError(f"{p}: field '{deep.field}': {deep.message}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{p}: not valid TOML: {exc}") from None
    except RecursionError:  # not reached after nesting_problem; kept so no input can end in a traceback
        raise ManifestError(f"{p}: not valid TOML: nested too deeply to parse") from None
    if submission:
        for name, why in MAINTAINER_ONLY.items():
            if name in data:
                raise ManifestError(f"{p}: field '{name}': not allowed in a submission ({why}); remove it")
    return parse_manifest(data, str(p))
