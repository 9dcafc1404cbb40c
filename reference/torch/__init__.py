"""The same computations in PyTorch (autograd gradients, float64, CUDA when available)."""
from reference.torch.autograd import *  # noqa: F401,F403
