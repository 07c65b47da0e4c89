"""A recursive (tree-structured) cell: runs over a parse tree given as nested tuples.

Leaves are integer token ids looked up in an :class:`Embedding`; an internal node with children
``(c_1, ..., c_k)`` (k = ``arity``) gets h = tanh(W [h_1; ...; h_k] + b). The same W, b and
embedding are used at every node, so gradients from the root flow back down every branch and
accumulate in the shared weights.
"""
import numpy as np

import diffprog.autodiff as ad
from .module import Module
from .layers import Linear, Embedding
from . import init as _init


class TreeCell(Module):
    """``TreeCell(vocab_size, hidden_size, arity=2)``; ``cell(tree) -> (hidden_size,)`` root vector,
    ``cell.encode_all(tree)`` also returns every node's vector (post-order)."""

    def __init__(self, vocab_size, hidden_size, arity=2, rng=None, dtype=np.float64):
        super().__init__()
        if int(arity) < 1:
            raise ValueError(f"TreeCell: arity must be >= 1, got {arity}")
        rng = _init.as_generator(rng)
        self.vocab_size, self.hidden_size, self.arity = int(vocab_size), int(hidden_size), int(arity)
        self.embedding = Embedding(self.vocab_size, self.hidden_size, rng=rng, dtype=dtype)
        self.combine = Linear(self.arity * self.hidden_size, self.hidden_size, rng=rng, dtype=dtype)

    def _node(self, tree, path, out):
        if isinstance(tree, (int, np.integer)):
            if not 0 <= tree < self.vocab_size:
                raise ValueError(f"TreeCell: leaf at path {path} is token {tree}, expected an id in "
                                 f"[0, {self.vocab_size})")
            h = self.embedding(np.asarray(tree))
        elif isinstance(tree, tuple):
            if len(tree) != self.arity:
                raise ValueError(f"TreeCell(arity={self.arity}): node at path {path} has {len(tree)} children, "
                                 f"expected {self.arity}")
            children = [self._node(child, path + (i,), out) for i, child in enumerate(tree)]
            h = ad.tanh(self.combine(ad.concatenate(children, axis=0)))
        else:
            raise TypeError(f"TreeCell: node at path {path} is a {type(tree).__name__}; a tree is an int token "
                            f"id or a tuple of {self.arity} subtrees")
        out.append(h)
        return h

    def encode_all(self, tree):
        """(root vector, list of every node's vector in post-order)."""
        nodes = []
        root = self._node(tree, (), nodes)
        return root, nodes

    def forward(self, tree):
        return self.encode_all(tree)[0]

    def extra_repr(self):
        return f"vocab_size={self.vocab_size}, hidden_size={self.hidden_size}, arity={self.arity}"
