"""Fieldcast: a desktop studio for neural surrogates of physical simulations."""

__version__ = "0.1.0"
__all__ = ["__version__"]
