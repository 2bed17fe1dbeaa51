"""Stage 4, studies: experiments built on training and evaluation.

A study trains (or reads) several runs and compares what they measured, so it sits above both
:mod:`galaxy_lib.model` and :mod:`galaxy_lib.evaluation`, which stays about one run: ``curve``
(learning curves: one configuration trained on nested subsets of the training galaxies),
``power_law`` (their saturating power-law fit, bootstrapped and extrapolated), ``curve_file`` (the
learning-curve parameters file), ``curve_analysis`` (per-size table, compute curve, synthetic check
and the generated conclusion) and ``compare`` (finished runs side by side).
"""
