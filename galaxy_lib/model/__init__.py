"""Stage 2, the model: build, train, predict.

``network`` builds VGG6 and its output heads, ``runs`` is the run folder (what training writes
and everything else reads), ``train`` fills a run folder (resumable, seeded, distributed when
asked), ``predict`` turns a run (or an ensemble) into predictions and Kaggle submissions, and
``ensemble`` is several runs averaged as one model (its parameters file, folder and training).
"""
