"""What a minimal-norm search tries to break, as pure functions of the logits (Woods et al. 2019, ARA).

- ``misclassify`` ("attack ARA"): the property is ``argmax f(x) = y``.
- ``btr`` ("better than random", "BTR ARA"): the property is ``softmax_y f(x) > 1/K``.

Each criterion maps (logits, y) to a bool per sample that is True while the property *holds*; a search
succeeds where it no longer holds. For a correctly classified point ``softmax_y ≥ 1/K`` (the largest of K
probabilities is at least their mean), so breaking BTR implies misclassification up to exact ties: a BTR
radius is never smaller than the misclassification radius.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum

from torch import Tensor


class Criterion(StrEnum):
    """The property a minimal-norm search breaks."""

    MISCLASSIFY = "misclassify"
    BTR = "btr"


def classified_correctly(logits: Tensor, y: Tensor) -> Tensor:
    """``argmax_k logits_k = y`` per sample (ties resolved like ``torch.argmax``: first index).

    >>> import torch
    >>> classified_correctly(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0])).tolist()
    [True, False]
    """
    return logits.argmax(1) == y


def better_than_random(logits: Tensor, y: Tensor) -> Tensor:
    """``softmax(logits)_y > 1/K`` per sample (Woods et al.'s ``use_l2min='btr'`` test, as in their code).

    >>> import torch
    >>> better_than_random(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), torch.tensor([0, 0])).tolist()
    [True, False]
    """
    probs = logits.softmax(1)
    return probs.gather(1, y.view(-1, 1)).squeeze(1) > 1.0 / logits.shape[1]


HOLDS: Mapping[Criterion, Callable[[Tensor, Tensor], Tensor]] = {
    Criterion.MISCLASSIFY: classified_correctly,
    Criterion.BTR: better_than_random,
}


def holds(criterion: Criterion | str, logits: Tensor, y: Tensor) -> Tensor:
    """Per sample: the property of ``criterion`` still holds at these logits."""
    return HOLDS[Criterion(criterion)](logits, y)
