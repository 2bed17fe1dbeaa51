"""Stage 0, the synthetic sky: a Galaxy Zoo look-alike written in Kaggle's layout.

``morphology`` draws each galaxy's latent shape and simulates the volunteers' votes,
``render`` paints it as an SDSS-like JPEG, ``catalogue`` makes one galaxy and writes the sky's
tables, ``sky`` writes whole data sets as folders and ``zipped`` as Kaggle's three zips.
``sky.ensure_synthetic`` makes a configuration's sky when it is missing, called only by the entry
points that need the default data (``synth -f``, ``report``, the notebooks' ``setup``): the data stage
reads and never generates. Nothing here depends on TensorFlow.
"""
