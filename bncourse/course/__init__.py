"""The course's helpers, beside the NumPy-only core: what the chapters need to run experiments and show them.

They need more than NumPy (install the ``course`` extra: ``pip install bncourse[course]``): scikit-learn for
the offline digits, threadpoolctl for one-thread training, PyTorch and TensorFlow/Keras for the CNN. Each
module is imported on its own (``from bncourse.course import data, mlp, training``); importing this package
imports none of them.

Modules: ``data`` (the offline digits), ``activations`` (tanh, sigmoid, ReLU with derivatives), ``mlp`` (a
NumPy MLP with optional BN), ``training`` (loss, mini-batches, the SGD loop, per-layer statistics), ``cnn``
(the same CNN in PyTorch and Keras, and their training loops), ``display`` (tables and the way chapters
report numbers from several seeds), ``tolerances`` (the tolerances tests and chapters compare with).
"""
