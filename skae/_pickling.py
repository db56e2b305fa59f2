"""Torch tensors inside an estimator's pickle, loadable on any machine.

The fitted modules (and partial_fit's optimiser state) are written with
:func:`torch.save` inside the pickle, so that unpickling can map their
tensors to the CPU: a model trained on a GPU then loads on a machine
without one.
"""

from __future__ import annotations

import io
import pickle

import torch


class _TorchBlob:
    """Bytes written by :func:`torch.save`, marked as such inside a pickle."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __getstate__(self):
        return self.data

    def __setstate__(self, data):
        self.data = data


def pack_tensors(state: dict, names: tuple[str, ...]) -> dict:
    """``state`` with the values under ``names`` serialised by
    :func:`torch.save`, so that :func:`unpack_tensors` can map them to the
    CPU.

    A value that torch.save cannot pickle (a module whose class is defined
    inside a function) stays as it is: a deep copy or cloudpickle (Dask's
    workers) still handles it, and plain pickle then fails at the call with
    its own message naming the class.
    """
    state = dict(state)
    for name in names:
        if state.get(name) is None:
            continue
        buffer = io.BytesIO()
        try:
            torch.save(state[name], buffer)
        except (pickle.PicklingError, AttributeError, TypeError):
            continue
        state[name] = _TorchBlob(buffer.getvalue())
    return state


def unpack_tensors(state: dict, names: tuple[str, ...]) -> dict:
    """The inverse of :func:`pack_tensors`, onto the CPU."""
    for name in names:
        if isinstance(state.get(name), _TorchBlob):
            state[name] = torch.load(
                io.BytesIO(state[name].data), map_location="cpu", weights_only=False
            )
    return state
