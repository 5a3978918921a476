"""The ``manipulate`` stage: Heo, Joo, Moon (NeurIPS 2019) adversarial model manipulation as an attack on
the entry (https://arxiv.org/abs/1902.02041).

A copy of the entry's model (``ctx.model()`` returns a fresh module) is fine-tuned for a fixed budget
(``steps`` Adam steps of ``batch_size`` training images, model kept in eval mode as in Heo's code) on

    L(w) = CE(f_w(x), y) + λ · L_F(h_w),

where h is Grad-CAM at the model's ``cam_layer`` (ReLU'd, divided by its max) or input-level saliency
(|∂f_y/∂x| summed over channels — divided by its max; Heo's code divides by its sum, which makes the
location score at least the border's share of the pixels and so never successful), computed for the true
label with ``create_graph=True``. Passive losses: location, top-k, center-mass; active: swap the maps of two
classes on composite images holding both (left/right halves), with CE on ordinary training batches.

Evaluation on the first ``n`` held-out evaluation images (composites built from evaluation images for the
active run): the fooling success rate FSR = fraction of images whose score lies in the success interval
(robex's intervals, :data:`bench.scores.manipulation.FSR_INTERVALS`: location [0, 0.2], top-k [0, 0.3],
center-mass [0.1, 1]; active: our criterion, the swapped maps correlate better with the other class's original
map), the FSR of the original model and of a **control** fine-tuned identically with λ = 0, the accuracy the
fooling cost **against the control** (control − after: the drift that the fine-tuning alone causes is not
charged to the fooling), whether the fooling transfers to the other explainers (Spearman correlation of their
maps with the original model's maps, compared with the control's), and the fooled explainer's RISE deletion and
insertion AUC per image for the original, the control and the fooled model. Budget: a few hundred small steps
per run, far below the paper's 3×10⁴.

Modules: :mod:`~bench.stages.manipulate.objectives`, :mod:`~bench.stages.manipulate.fine_tuning`,
:mod:`~bench.stages.manipulate.evaluation`, :mod:`~bench.stages.manipulate.stage` (importing this package
registers the stage and its scores).
"""

from bench.stages.manipulate.evaluation import Manipulation, accuracy
from bench.stages.manipulate.fine_tuning import Run, fine_tune, parse_runs
from bench.stages.manipulate.objectives import INTERPRETERS, PASSIVE, FoolingData, composites
from bench.stages.manipulate.stage import ManipulateStage

__all__ = [
    "INTERPRETERS",
    "PASSIVE",
    "FoolingData",
    "ManipulateStage",
    "Manipulation",
    "Run",
    "accuracy",
    "composites",
    "fine_tune",
    "parse_runs",
]
