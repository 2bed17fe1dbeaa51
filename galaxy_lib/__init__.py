"""galaxy_lib: reproduce, honestly evaluate and improve a VGG6 Galaxy Zoo classifier.

The tree reads as the pipeline; each stage imports only its own stage, the stages before it and
the core (``tests/test_layering.py`` enforces it, lazy imports included):

- core: ``errors`` (the user-error channel) and ``kaggle`` (Kaggle's file and folder names), both
  free of package imports; ``paths`` (the file helpers: project root, shown paths, atomic writes,
  the folder swap), which imports only ``errors``; ``config`` (the one configuration object),
  ``locks`` (one process at a time per run, report or data folder), ``tree`` (the 11-question
  decision tree), ``environment``, ``tf_setup``;
- ``synth``: the synthetic Galaxy Zoo sky (the default data set);
- ``data``: images, labels, split, ``tf.data`` input, augmentation, and the decision to generate the
  synthetic sky a configuration asks for;
- ``model``: VGG6, run folders, training, prediction, ensembles;
- ``evaluation``: metrics, baselines, figures, the held-out evaluation of one run;
- ``studies``: learning curves and comparisons of runs, built on training and evaluation;
- ``report``: papermill execution, HTML rendering, the report index, the notebooks' set-up and
  JupyterLab (``report.lab``);
- entry: ``cli`` (``python -m galaxy_lib VERB``), which dispatches to every stage.

TensorFlow is imported only by the modules that need it, so data checks and the CLI's help
stay quick.
"""

__version__ = "0.1.0"
