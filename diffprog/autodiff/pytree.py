"""Nested containers (tuples, lists, dicts) of arrays: flatten to leaves and rebuild."""


def flatten(tree):
    """Return (leaves, rebuild) where ``rebuild(new_leaves)`` recreates the structure."""
    if isinstance(tree, (tuple, list)):
        parts = [flatten(t) for t in tree]
        counts = [len(p[0]) for p in parts]
        leaves = [leaf for p in parts for leaf in p[0]]
        kind = type(tree)

        def rebuild(new):
            out, i = [], 0
            for (_, sub), n in zip(parts, counts):
                out.append(sub(new[i:i + n]))
                i += n
            return kind(out) if kind in (tuple, list) else kind(*out)
        return leaves, rebuild
    if isinstance(tree, dict):
        keys = list(tree.keys())
        parts = [flatten(tree[k]) for k in keys]
        counts = [len(p[0]) for p in parts]
        leaves = [leaf for p in parts for leaf in p[0]]

        def rebuild(new):
            out, i = {}, 0
            for k, (_, sub), n in zip(keys, parts, counts):
                out[k] = sub(new[i:i + n])
                i += n
            return type(tree)(out) if type(tree) is not dict else out
        return leaves, rebuild
    if tree is None:
        return [], lambda new: None
    return [tree], lambda new: new[0]


def tree_map(fn, tree):
    leaves, rebuild = flatten(tree)
    return rebuild([fn(leaf) for leaf in leaves])
