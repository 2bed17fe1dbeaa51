"""galaxy_lib: reproduce, honestly evaluate and improve a VGG6 Galaxy Zoo classifier.

The tree reads as the pipeline; each stage imports only the stages before it and the core:

- core: ``config`` (the one configuration object), ``errors`` (the user-error channel),
  ``locks`` (one process at a time per run, report or data folder),
  ``tree`` (the 11-question decision tree), ``environment``, ``tf_setup``;
- ``synth``: the synthetic Galaxy Zoo sky (the default data set);
- ``data``: Kaggle layout, images, labels, split, ``tf.data`` input, augmentation;
- ``model``: VGG6, run folders, training, prediction;
- ``evaluation``: metrics, baselines, figures, the held-out evaluation of a run;
- ``report``: papermill execution, HTML rendering and the report index;
- ``cli``: ``python -m galaxy_lib VERB``.

TensorFlow is imported only by the modules that need it, so data checks and the CLI's help
stay quick.
"""

__version__ = "0.1.0"
