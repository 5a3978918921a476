"""Built-in defenses. One module per defense family; importing a module registers it in
``bench.plugins.DEFENSES``."""

from defenses import activation_sensitivity as activation_sensitivity
from defenses import adversarial_training as adversarial_training
from defenses import distillation as distillation
from defenses import input_gradient as input_gradient
from defenses import interpretability_aware as interpretability_aware
from defenses import lipschitz as lipschitz
from defenses import standard as standard
from defenses import trades as trades
