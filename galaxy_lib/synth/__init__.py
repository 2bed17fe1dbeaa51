"""Stage 0, the synthetic sky: a Galaxy Zoo look-alike written in Kaggle's layout.

``morphology`` draws each galaxy's latent shape and simulates the volunteers' votes,
``render`` paints it as an SDSS-like JPEG, ``catalogue`` makes one galaxy and writes the sky's
tables, ``sky`` writes whole data sets as folders and ``zipped`` as Kaggle's three zips. Whether the
default sky must be generated is decided by the data stage
(:func:`galaxy_lib.data.dataset.ensure_synthetic`), which knows the configuration. Nothing here
depends on TensorFlow.
"""
