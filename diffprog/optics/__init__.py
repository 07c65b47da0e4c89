"""Wave optics: scalar diffraction by the angular spectrum method, differentiable end to end (so an
inverse problem is solved by backpropagating the wave)."""
from .angular_spectrum import axial_wavenumber, transfer_function, propagate, intensity

__all__ = ["axial_wavenumber", "transfer_function", "propagate", "intensity"]
