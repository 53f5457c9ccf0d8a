"""Probes for Lecture 03's grader (introduced with Lecture 03's grader).

They run where the student's code runs (the runner, or the notebook under nbgrader) and return
raw observations to the judge, which holds every check and expected value.
"""

from __future__ import annotations

import tensorflow as tf


def graph_operations(model, input_shape: tuple) -> list[dict]:
    """The operations of the TensorFlow graph of ``model`` traced on one image.

    Args:
        model: a Keras model; input_shape: one image's shape, without the batch axis.

    Returns:
        One ``{"type": str, "inputs": [shape, ...], "outputs": [shape, ...], "transpose_a":
        bool | None}`` per operation, in graph order; shapes are tuples (None for an unknown
        size), ``transpose_a`` is the attribute of a MatMul and None for any other operation.
    """
    function = tf.function(lambda x: model(x, training=False))
    spec = tf.TensorSpec((1, *input_shape), tf.float32)
    graph = function.get_concrete_function(spec).graph

    def shape(tensor):
        dims = tensor.shape
        return tuple(dims.as_list()) if dims.rank is not None else None

    operations = []
    for op in graph.get_operations():
        operations.append(
            {
                "type": str(op.type),
                "inputs": [shape(t) for t in op.inputs],
                "outputs": [shape(t) for t in op.outputs],
                "transpose_a": bool(op.get_attr("transpose_a")) if op.type == "MatMul" else None,
            }
        )
    return operations
