"""robex's scores as a library: the fidelity, explanation-robustness, manipulability and randomisation metrics of the
``explain``, ``manipulate`` and ``randomization`` stages, callable on any model, images and attributions outside a
track, Quantus-style::

    from bench.metrics import road, deletion, max_sensitivity

    scores = road(model, x, y, a)  # one value per image (numpy), NaN where undefined

Every metric is ``metric(model, x, y, a, **settings) -> np.ndarray`` of shape ``(N,)``: ``model`` maps images in
[0, 1] to logits; ``x`` are images ``(N, C, H, W)``, ``y`` classes ``(N,)`` (the class explained and followed; the
true class for Boopathy et al.'s CAM measures), ``a`` attributions ``(N, C, H, W)`` or ``(N, H, W)`` — torch tensors or
numpy arrays. The model is put in eval mode without parameter gradients for the call and restored afterwards. Every
random draw comes from the ``generator`` setting (an int seed or a ``torch.Generator``). Settings default to the
``explain`` stage's defaults (see each function); :func:`track_settings` gives those of a track, with which a call
reproduces the track's numbers. :data:`METRICS` lists them (:class:`Metric`: the function, its family, the record
score it computes).
"""

from bench.metrics.base import METRICS, Metric, track_settings
from bench.metrics.fidelity import deletion, faithfulness_correlation, insertion, road, road_lerf, road_morf
from bench.metrics.manipulability import fooling_center_mass, fooling_location, fooling_topk
from bench.metrics.randomization import model_randomization
from bench.metrics.robustness import discrepancy_ratio, max_sensitivity, topk_kendall_tau

__all__ = [
    "METRICS",
    "Metric",
    "deletion",
    "discrepancy_ratio",
    "faithfulness_correlation",
    "fooling_center_mass",
    "fooling_location",
    "fooling_topk",
    "insertion",
    "max_sensitivity",
    "model_randomization",
    "road",
    "road_lerf",
    "road_morf",
    "topk_kendall_tau",
    "track_settings",
]
