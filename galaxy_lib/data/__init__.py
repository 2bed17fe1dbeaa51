"""Stage 1, the data: Kaggle layout in, batches out.

``images`` opens folders and zips of JPEGs and checks them, ``dataset`` reads and validates
the labels against the tree, ``split`` makes and stores the train/validation/test split,
``pipeline`` streams centre crops through ``tf.data`` and ``augment`` holds the random and
test-time views.
"""
