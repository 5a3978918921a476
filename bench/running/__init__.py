"""Running a track: plan cells (:mod:`~bench.running.runner`), execute them here or on a cluster
(:mod:`~bench.running.executors`, :mod:`~bench.running.parallel`, :mod:`~bench.running.ray_executor`), cache them
(:mod:`~bench.running.store`), train models (:mod:`~bench.running.training`), run the sanity checks
(:mod:`~bench.running.checks`, raising the flags of :mod:`~bench.running.flags`; :mod:`~bench.running.adversarial`)
and assemble records (:mod:`~bench.running.assemble`)."""
