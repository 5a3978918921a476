"""Built-in defenses. One module per defense family; importing a module registers it in
``bench.plugins.DEFENSES``."""

from defenses import standard as standard
