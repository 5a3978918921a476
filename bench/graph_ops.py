"""The operators a graph artifact may call: an explicit allowlist of pure ATen operator overloads.

A graph artifact (:mod:`bench.graph_format`) names each node's operator as ``aten.<op>.<overload>``; robex runs
it by looking that name up here and calling ``torch.ops.aten.<op>.<overload>`` (:mod:`bench.graph_exec`). The
list is what robex's own architectures (:mod:`bench.models`), the bring-your-own ResNet-18 example and common
classifier layers export to after functionalisation (``ExportedProgram.run_decompositions({})``), nothing more:

- **pure**: every listed overload computes a new tensor from its arguments — no file or device I/O, no
  in-place or ``out=`` variant, no storage sharing, no operator that writes into an argument;
- **random** operators are listed apart and allowed only in an entry declared randomised (scored with EOT,
  see :func:`bench.stages.sanity.attack_model`); they still draw only from torch's generator.

Anything else is refused with the reason (:func:`refusal`). Extending the list is a code change reviewed here,
with a test graph for the new operator (``tests/unit/test_graph_format.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import torch

from bench.registry import Registry


class Value(StrEnum):
    """What a graph value is: a tensor, or a plain integer (a size read with ``aten.sym_size.int``)."""

    TENSOR = "tensor"
    INT = "int"


@dataclass(frozen=True)
class OpRule:
    """One allowlisted overload: its ``aten.<op>.<overload>`` name, what it returns, whether it draws noise."""

    name: str
    outputs: tuple[Value, ...] = (Value.TENSOR,)
    random: bool = False

    def overload(self) -> torch._ops.OpOverload:
        """``torch.ops.aten.<op>.<overload>``, looked up from robex's own name (never from artifact text)."""
        _, op, overload = self.name.split(".")
        return getattr(getattr(torch.ops.aten, op), overload)  # type: ignore[no-any-return]


ALLOWED_OPS: Registry[OpRule] = Registry("graph operator")

_PURE = (
    # convolution and linear maps
    "aten.conv2d.default",
    "aten.linear.default",
    "aten.mm.default",
    "aten.addmm.default",
    "aten.matmul.default",
    # activations and element-wise maths
    "aten.relu.default",
    "aten.gelu.default",
    "aten.sigmoid.default",
    "aten.tanh.default",
    "aten.clamp.default",
    "aten.round.default",
    "aten.where.self",
    "aten.ge.Scalar",
    "aten.add.Tensor",
    "aten.sub.Tensor",
    "aten.mul.Tensor",
    "aten.div.Tensor",
    # pooling, normalisation (inference only: running statistics, nothing updated) and reductions
    "aten.max_pool2d.default",
    "aten.avg_pool2d.default",
    "aten.adaptive_avg_pool2d.default",
    "aten.mean.dim",
    "aten.sum.dim_IntList",
    "aten.amax.default",
    "aten.softmax.int",
    "aten.log_softmax.int",
    # shapes (views of a value; nothing can write through them, no operator here writes)
    "aten.view.default",
    "aten.permute.default",
    "aten.transpose.int",
    "aten.t.default",
    "aten.expand.default",
    "aten.cat.default",
    "aten.slice.Tensor",
    "aten.select.int",
    "aten.unsqueeze.default",
    "aten.squeeze.dim",
    "aten.clone.default",  # a fresh copy: reshaping a non-contiguous tensor exports to clone + _unsafe_view
    "aten._unsafe_view.default",  # a view of that fresh copy ("unsafe" only for autograd's alias tracking)
)
_MULTI = {
    "aten._native_batch_norm_legit_no_training.default": (Value.TENSOR,) * 3,  # output, saved mean, saved invstd
    "aten.max_pool2d_with_indices.default": (Value.TENSOR,) * 2,  # output, indices
}
_RANDOM = {
    "aten.randn_like.default": (Value.TENSOR,),
    "aten.rand_like.default": (Value.TENSOR,),
    "aten.bernoulli.default": (Value.TENSOR,),
    "aten.native_dropout.default": (Value.TENSOR,) * 2,  # output, mask
}

for _name in _PURE:
    ALLOWED_OPS.add(_name, OpRule(_name))
for _name, _outputs in _MULTI.items():
    ALLOWED_OPS.add(_name, OpRule(_name, _outputs))
ALLOWED_OPS.add("aten.sym_size.int", OpRule("aten.sym_size.int", (Value.INT,)))
for _name, _outputs in _RANDOM.items():
    ALLOWED_OPS.add(_name, OpRule(_name, _outputs, random=True))

_IO = ("from_file", "_local_scalar_dense", "to", "_to_copy", "copy", "_copy_from", "pin_memory", "item", "save")
_ALIASING = ("set", "resize", "as_strided", "share_memory", "_set", "alias", "lift", "storage")
_RANDOM_WORDS = ("rand", "bernoulli", "normal", "uniform", "multinomial", "poisson", "dropout", "exponential")


class Refusal(StrEnum):
    """Why an operator name is not run."""

    NOT_ATEN = "not an ATen operator (robex runs only its allowlist of pure ATen operators)"
    OUT = "an out= variant (it writes into a tensor it is given)"
    IN_PLACE = "an in-place operator (it mutates its input)"
    IO = "file or device I/O or a device transfer"
    ALIASING = "storage sharing, resizing or aliasing"
    RANDOM_UNDECLARED = "a random operator, allowed only in an entry declared randomised (scored with EOT)"
    RANDOM = "a random operator robex does not run"
    UNLISTED = "not on robex's allowlist of pure ATen operators"


def refusal(name: str, randomized: bool) -> Refusal | None:
    """Why the graph operator ``name`` is refused, or ``None`` when robex runs it.

    >>> refusal("aten.relu.default", False) is None
    True
    >>> refusal("aten.fill_.Scalar", False).name, refusal("aten.add.out", False).name
    ('IN_PLACE', 'OUT')
    >>> refusal("aten.randn_like.default", False).name, refusal("aten.randn_like.default", True) is None
    ('RANDOM_UNDECLARED', True)
    """
    if name in ALLOWED_OPS:
        return Refusal.RANDOM_UNDECLARED if ALLOWED_OPS.get(name).random and not randomized else None
    parts = name.split(".")
    if len(parts) != 3 or parts[0] != "aten":
        return Refusal.NOT_ATEN
    op, overload = parts[1], parts[2]
    if "out" in overload.lower().split("_"):
        return Refusal.OUT
    if op.endswith("_") and not op.endswith("__"):
        return Refusal.IN_PLACE
    if op in _IO:
        return Refusal.IO
    if op.lstrip("_").startswith(tuple(w.lstrip("_") for w in _ALIASING)):
        return Refusal.ALIASING
    if any(w in op for w in _RANDOM_WORDS):
        return Refusal.RANDOM
    return Refusal.UNLISTED
