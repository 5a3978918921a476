"""Extra ``robex`` subcommands (submit, verify, compare, ...) register here via ``bench.cli.COMMANDS``."""
