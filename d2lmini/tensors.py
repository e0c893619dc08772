"""The tensor aliases that the book's framework-neutral code calls."""
import torch

__all__ = ["randn", "rand", "zeros", "ones", "arange", "tensor", "normal",
           "reshape", "argmax", "astype", "reduce_mean", "reduce_sum",
           "numpy", "to", "size", "float32", "int32", "int64", "concat",
           "stack", "exp", "log", "matmul", "abs"]

randn = torch.randn
rand = torch.rand
zeros = torch.zeros
ones = torch.ones
arange = torch.arange
tensor = torch.tensor
normal = torch.normal
exp = torch.exp
log = torch.log
matmul = torch.matmul
abs = torch.abs
concat = torch.cat
stack = torch.stack
float32 = torch.float32
int32 = torch.int32
int64 = torch.int64


def reshape(x, *args, **kwargs):
    return x.reshape(*args, **kwargs)


def _dim(kwargs):
    # The book writes ``axis=`` (NumPy style); torch calls it ``dim``.
    if "axis" in kwargs:
        kwargs["dim"] = kwargs.pop("axis")
    return kwargs


def argmax(x, *args, **kwargs):
    return x.argmax(*args, **_dim(kwargs))


def astype(x, *args, **kwargs):
    return x.type(*args, **kwargs)


def reduce_mean(x, *args, **kwargs):
    return x.mean(*args, **_dim(kwargs))


def reduce_sum(x, *args, **kwargs):
    return x.sum(*args, **_dim(kwargs))


def numpy(x, *args, **kwargs):
    return x.detach().numpy(*args, **kwargs)


def to(x, *args, **kwargs):
    return x.to(*args, **kwargs)


def size(x, *args, **kwargs):
    return x.numel(*args, **kwargs)
