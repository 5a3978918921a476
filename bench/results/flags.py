"""The sanity flags' vocabulary as data: their names (:class:`Check`), one-line explanations and severities.

Read by the harness (:mod:`bench.running.flags` turns a check's finding into a record's flag) and by the
leaderboard's "About the scores" page, which lists every flag without importing any part of the harness that
computes."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from bench.types import Severity


class Check(StrEnum):
    """Names of the sanity flags (the record's ``flags[].name``)."""

    NONFINITE = "nonfinite_outputs"
    SOFTMAX = "softmax_outputs"
    ZERO_GRADIENTS = "zero_gradients"
    RANDOMIZED = "randomized"
    DYNAMIC = "dynamic_defense"
    BATCHNORM = "batchnorm_updated"
    LARGE_EPS = "large_eps_accuracy"
    MORE_STEPS = "more_steps_raise_accuracy"
    TRANSFER_BEATS_WHITEBOX = "transfer_beats_whitebox"
    BLACKBOX_BEATS_WHITEBOX = "blackbox_beats_whitebox"
    RADIUS_NOT_FOUND = "radius_not_found"
    HOLDOUT_DISAGREES = "holdout_disagrees"
    HOLDOUT_UNAVAILABLE = "holdout_unavailable"
    IGNORES_WEIGHTS = "explainer_ignores_weights"
    SHIFT_DISAGREES = "shift_disagrees"
    GRADIENT_MASKING = "gradient_masking"
    STAGE_FAILED = "stage_failed"


EXPLANATIONS: Mapping[Check, str] = {
    Check.NONFINITE: "the model returns NaN or infinite outputs, so accuracies under attack are meaningless",
    Check.SOFTMAX: "the model outputs probabilities, not logits: saturated softmax gradients weaken "
    "gradient attacks (AutoAttack check)",
    Check.ZERO_GRADIENTS: "some inputs have an exactly zero input gradient, so gradient attacks cannot move "
    "them (a sign of gradient masking; AutoAttack check)",
    Check.RANDOMIZED: "repeated forward passes on the same input disagree: a randomised defense needs an "
    "EOT evaluation (AutoAttack check)",
    Check.DYNAMIC: "the forward pass itself computes gradients (a test-time optimising defense): "
    "fixed-model attacks may be insufficient (AutoAttack check)",
    Check.BATCHNORM: "BatchNorm running statistics changed while evaluating: the model is not a fixed "
    "function, so its numbers depend on what it was evaluated on",
    Check.LARGE_EPS: "accuracy is not near zero at a budget that allows any image, so the attack is being "
    "blocked (gradient masking), not the model being robust",
    Check.MORE_STEPS: "more attack iterations gave higher accuracy, so the attack's optimisation is failing "
    "(gradient masking or a broken loss surface)",
    Check.TRANSFER_BEATS_WHITEBOX: "adversarial examples transferred from another model beat the white-box "
    "attack on this model, so its white-box gradients are not informative",
    Check.BLACKBOX_BEATS_WHITEBOX: "the black-box Square attack broke points that every gradient attack "
    "missed (AutoAttack check)",
    Check.RADIUS_NOT_FOUND: "the gradient-based minimal-radius searches found no adversarial example for some "
    "images (a sign of gradient masking); their radius is only bounded from above, so the ARA is optimistic",
    Check.HOLDOUT_DISAGREES: "clean accuracy on the published evaluation images is significantly higher than on "
    "held-out images drawn at scoring time: the model has memorised the published subset",
    Check.HOLDOUT_UNAVAILABLE: "the dataset has no held-out images beside the published subset, so the "
    "memorisation check could not run",
    Check.IGNORES_WEIGHTS: "an explainer's maps stay similar when the model's weights are re-initialised "
    "(Adebayo et al. 2018's model-randomisation sanity check): they show the input more than what the model "
    "learned, so that explainer's scores say little about the model",
    Check.SHIFT_DISAGREES: "robust accuracy collapses on the published images moved by under a pixel (the same "
    "digits, the same labels): the model answers from stored copies of the evaluation images, not from what they "
    "show",
    Check.GRADIENT_MASKING: "the model masks the gradients the attacks follow (they vanish, or cannot bring "
    "accuracy down even at a budget that allows any image, or a black-box attack breaks many images they miss), so "
    "its robust accuracy is not measured: unranked until an adaptive attack (e.g. BPDA through the masking part) "
    "is run",
    Check.STAGE_FAILED: "a stage crashed on this entry, so its record is incomplete and the entry is not ranked",
}

SEVERITY: Mapping[Check, Severity] = {
    Check.NONFINITE: Severity.FAIL,
    Check.SOFTMAX: Severity.WARN,
    Check.ZERO_GRADIENTS: Severity.WARN,
    Check.RANDOMIZED: Severity.WARN,
    Check.DYNAMIC: Severity.WARN,
    Check.BATCHNORM: Severity.FAIL,
    Check.LARGE_EPS: Severity.WARN,
    Check.MORE_STEPS: Severity.WARN,
    Check.TRANSFER_BEATS_WHITEBOX: Severity.WARN,
    Check.BLACKBOX_BEATS_WHITEBOX: Severity.WARN,
    Check.RADIUS_NOT_FOUND: Severity.WARN,
    Check.HOLDOUT_DISAGREES: Severity.FAIL,
    Check.HOLDOUT_UNAVAILABLE: Severity.WARN,
    Check.IGNORES_WEIGHTS: Severity.INFO,
    Check.SHIFT_DISAGREES: Severity.FAIL,
    Check.GRADIENT_MASKING: Severity.FAIL,
    Check.STAGE_FAILED: Severity.FAIL,
}
