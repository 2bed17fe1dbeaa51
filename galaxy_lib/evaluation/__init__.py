"""Stage 3, honest evaluation: metrics, baselines, figures.

``metrics`` (RMSE, the paper's accuracy, AUCs with intervals), ``baselines`` (training mean,
central pixel, Kaggle anchors), ``figures`` and ``gallery`` (plots of results and of the data)
and ``evaluate``, which scores a run on its held-out galaxies and writes the results;
``agreement`` (error against how much the volunteers agreed) and ``saliency`` (which pixels the
model's answers depend on) explain where the error comes from; ``curve`` (learning curves: one
configuration trained on nested subsets of the training galaxies) and ``power_law`` (their
saturating power-law fit, bootstrapped and extrapolated) measure how the error falls with data;
``curve_file`` (the learning-curve parameters file) and ``curve_analysis`` (per-size table, compute
curve, synthetic check and the generated conclusion) serve the learning-curve report.
"""
