"""What users call: the Python API (:mod:`~bench.frontends.api`), publishing the site
(:mod:`~bench.frontends.publish`), the subcommands (:mod:`~bench.frontends.commands`, options in
:mod:`~bench.frontends.cli_options`; the ``robex`` parser is :mod:`bench.cli`), submission (admission, isolated
build, sandboxed evaluation: :mod:`~bench.frontends.submit`, :mod:`~bench.frontends.admission`,
:mod:`~bench.frontends.build`, :mod:`~bench.frontends.isolation`, :mod:`~bench.frontends.sandbox`) and
verification (:mod:`~bench.frontends.verify`, :mod:`~bench.frontends.verify_checks`)."""
