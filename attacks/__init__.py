"""Built-in attacks. One module per attack family; importing a module registers it in ``bench.plugins.ATTACKS``."""

from attacks import pgd as pgd
