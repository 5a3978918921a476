"""The ``explain`` stage: explanation fidelity and explanation robustness of the entry's model.

For each of the track's explainers, on the first ``n`` evaluation images, explaining the **predicted** class:

* RISE deletion and insertion AUC (https://arxiv.org/abs/1806.07421; softmax probability of the predicted class, zeros
  substrate, 11×11 σ = 5 blur, ``step`` pixels per step) and Bhatt et al.'s faithfulness correlation
  (§6.2; logits, per-image-minimum baseline, the same random subsets for every explainer);
* max-sensitivity (§6.4; Captum's relative Monte-Carlo estimate, U[−r, r] noise) on the first
  ``sensitivity_n`` images.

Boopathy et al.'s measures (§3.2) need a CAM (a GAP + linear head exposing ``cam``): Kendall τ between the
true-class CAM before and after their top-k attack (scaled down from 200 to ``topk_steps`` steps; the step
is ``topk_step_size``; per image in the record, so two models can be compared on the images both kept their
prediction on), and the 2-class ℓ1 discrepancy D₂/HW of their targeted attack at the track's ε, divided per
image by its lower bound ½(f_y(x) − f_t(x)) (half the clean logit margin): D₂/HW itself is in logit units, so a
model with larger logits would look better for no other reason. The targeted attack is their released
``min_pgd_attack`` (``discrepancy_gamma`` γ = 0 by default: the minimum-margin targeted attack, which does not
try to keep the CAM still); γ > 0 adds their interpretability-sneaking term γ·D₂/HW to the attack's loss.

Galleries (same first ``gallery`` eval images for every entry): each explainer's map, and Woods et al.'s
adversarial explanations toward the predicted and the runner-up class.

The leaderboard scores are those of the ``primary`` explainer; every explainer's numbers are in the table.

Modules: :mod:`~bench.stages.explain.measures`, :mod:`~bench.stages.explain.boopathy`,
:mod:`~bench.stages.explain.gallery`, :mod:`~bench.stages.explain.stage` (importing this package registers the
stage and its scores).
"""

from bench.stages.explain.stage import ExplainStage

__all__ = ["ExplainStage"]
