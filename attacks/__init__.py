"""Built-in attacks. One module per attack family; importing a module registers it in ``bench.plugins.ATTACKS``.

Helpers that are not registry plug-ins: :mod:`attacks.radii` (per-sample minimal radii),
:mod:`attacks.eot` (expectation over transformation), :mod:`attacks.transfer` (8-bit transfer crafting).
"""

from attacks import autoattack as autoattack
from attacks import fab as fab
from attacks import fgsm as fgsm
from attacks import l2min as l2min
from attacks import mifgsm as mifgsm
from attacks import pgd as pgd
from attacks import tgsm as tgsm
