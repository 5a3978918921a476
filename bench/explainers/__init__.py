"""Built-in explainers, one module per explainer; importing a module registers it in ``bench.EXPLAINERS``.

Captum where it has the method (saliency, input×gradient, integrated gradients, SmoothGrad, Grad-CAM); our
own code for CAM, Woods et al.'s adversarial explanation and the differentiable maps in
:mod:`bench.explainers.functional` (Heo et al.'s manipulation needs gradients through an explanation).
"""

from bench.explainers import cam as cam
from bench.explainers import gradcam as gradcam
from bench.explainers import input_x_gradient as input_x_gradient
from bench.explainers import integrated_gradients as integrated_gradients
from bench.explainers import saliency as saliency
from bench.explainers import smoothgrad as smoothgrad
from bench.explainers import woods as woods
