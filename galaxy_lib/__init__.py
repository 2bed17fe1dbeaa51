"""galaxy_lib: reproduce, honestly evaluate and improve a VGG6 Galaxy Zoo classifier.

Modules are small and named for what they hold: ``tree`` (the 11-question decision tree),
``config`` (the one configuration object), ``dataset`` (Kaggle layout), ``images``, ``split``,
``pipeline`` (tf.data input), ``synth`` (synthetic sky), ``models``, ``train``, ``predict``,
``metrics``, ``baselines``, ``figures``, ``evaluate`` and ``report``. TensorFlow is imported
only by the modules that need it, so data checks and the CLI's help stay quick.
"""

__version__ = "0.1.0"
