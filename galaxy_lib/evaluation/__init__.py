"""Stage 3, honest evaluation of one run: metrics, baselines, figures.

``metrics`` (RMSE, the paper's accuracy, AUCs with intervals), ``baselines`` (training mean,
central pixel, Kaggle anchors), ``figures`` and ``gallery`` (plots of results and of the data)
and ``evaluate``, which scores a run on its held-out galaxies and writes the results;
``agreement`` (error against how much the volunteers agreed) and ``saliency`` (which pixels the
model's answers depend on) explain where the error comes from. Studies that train or compare
several runs (learning curves, comparisons) are the next stage, :mod:`galaxy_lib.studies`.
"""
