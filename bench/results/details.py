"""The typed shapes of a record's ``details`` (the cross-team conventions), validated when a record is read or
built: curves, image galleries, small tables and per-image 0/1 vectors.

``details[<stage>]`` is a mapping; the keys below have a fixed shape in every stage's section, and a few stages
keep per-image vectors under fixed names (in evaluation-subset order, so two records on the same subset pair
image by image). Other keys are free-form JSON for the entry page. A section that breaks a shape is refused
naming its path (``details.ara.curves.attack.x.3``); the leaderboard still checks what only it can (a PNG's
signature, equal lengths of a curve's x and y) and lists what it could not show on the entry page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

Bit = Literal[0, 1]


class Curve(BaseModel):
    """``details[<stage>]["curves"][<key>]``: a line plot (``None`` breaks the line)."""

    model_config = ConfigDict(extra="allow")
    x: list[float | None]
    y: list[float | None]
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""


class GalleryImage(BaseModel):
    """One image of a gallery row: base64 PNG bytes and a label."""

    model_config = ConfigDict(extra="allow")
    png: str
    label: str = ""


class GalleryRow(BaseModel):
    """``details[<stage>]["gallery"][i]``: a captioned row of images."""

    model_config = ConfigDict(extra="allow")
    images: list[GalleryImage]
    caption: str = ""


class StageDetails(BaseModel):
    """Every stage's section: optional curves, gallery rows and a table (a list of rows: column → scalar)."""

    model_config = ConfigDict(extra="allow")
    curves: dict[str, Curve] | None = None
    gallery: list[GalleryRow] | None = None
    table: list[dict[str, Any]] | None = None


class CleanDetails(StageDetails):
    """``details["clean"]``: per-image correctness (1 = correct)."""

    correct: list[Bit] | None = None


class RobustDetails(StageDetails):
    """``details["pgd"]``, ``details["autoattack"]``, ``details["finalize:robust_accuracy"]``: per-image
    robustness (1 = the attack failed)."""

    robust: list[Bit] | None = None


class TransferDetails(StageDetails):
    """``details["transfer"]``: per-image robustness to the entry's own crafted examples and to the worst source,
    and per image the share of the other sources it resists (``mean_robust``, behind the mean's interval)."""

    self_robust: list[Bit] | None = None
    worst_robust: list[Bit] | None = None
    mean_robust: list[float] | None = None


SECTIONS: Mapping[str, type[StageDetails]] = {
    "clean": CleanDetails,
    "pgd": RobustDetails,
    "autoattack": RobustDetails,
    "finalize:robust_accuracy": RobustDetails,
    "transfer": TransferDetails,
}


def section_model(stage: str) -> type[StageDetails]:
    """The model of ``details[stage]``."""
    return SECTIONS.get(stage, StageDetails)


def check_details(details: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the path of the first part of ``details`` that breaks its shape.

    >>> check_details({"clean": {"correct": [1, 0, 1]}, "ara": {"curves": {"c": {"x": [0, 1], "y": [1, 0]}}}})
    >>> check_details({"clean": {"correct": [1, 2]}})
    Traceback (most recent call last):
    ...
    ValueError: details.clean.correct.1: Input should be 0 or 1
    """
    for stage, section in details.items():
        if not isinstance(section, Mapping):
            raise ValueError(f"details.{stage}: a stage's details must be a mapping, got {type(section).__name__}")
        try:
            section_model(stage).model_validate(section)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(x) for x in ("details", stage, *first["loc"]))
            raise ValueError(f"{where}: {first['msg']}") from None
