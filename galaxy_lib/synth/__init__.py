"""Stage 0, the synthetic sky: a Galaxy Zoo look-alike written in Kaggle's layout.

``morphology`` draws each galaxy's latent shape and simulates the volunteers' votes,
``render`` paints it as an SDSS-like JPEG, ``sky`` writes whole data sets (and generates the
default one on demand). Nothing here depends on TensorFlow.
"""
