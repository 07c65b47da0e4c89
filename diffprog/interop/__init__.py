"""Bridges to the frameworks diffprog's users already have.

``diffprog.interop.torch``: a diffprog function as a ``torch.autograd.Function`` and a PyTorch
module as a diffprog one (``pip install "diffprog[torch]"``). Nothing here is imported by
``import diffprog``: PyTorch is loaded only when ``diffprog.interop.torch`` is.
"""
