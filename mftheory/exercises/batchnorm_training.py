r"""Checks for the exercises of the chapter on batch normalization and trainable depth.

The checks are written in :mod:`mftheory.exercises.batchnorm` (next to the theory chapter's,
with whose helpers they share the grading and the hints); this module gives them the chapter's
name, which is how the course tools (:mod:`mftheory.course`) find a chapter's checks.

* :func:`check_min_batch_for_depth`: the smallest batch size whose predicted trainable depth
  :math:`16\xi` reaches 40 layers (ReLU);
* :func:`check_boundary_gradient_ratio`: the first to last layer gradient ratio of a network
  exactly at the predicted trainable depth;
* :func:`check_shift_for_gradient_ratio`: the BN shift :math:`\beta` that brings the first to
  last layer gradient ratio of a depth-60 ReLU network at :math:`B=32` down to 100;
* :func:`check_lr_for_weight_growth`: the learning rate at which one SGD step triples the norm
  of a weight matrix followed by batch normalization.
"""

from .batchnorm import (check_boundary_gradient_ratio, check_lr_for_weight_growth,
                        check_min_batch_for_depth, check_shift_for_gradient_ratio)

__all__ = ["check_min_batch_for_depth", "check_boundary_gradient_ratio",
           "check_shift_for_gradient_ratio", "check_lr_for_weight_growth"]
