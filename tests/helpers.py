"""Small models and data shared by the trainer's tests (imported as
``from helpers import ...``; tests/ is on sys.path under pytest)."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import d2lmini as d2l


class SyntheticData:
    """A tiny data module: 10-class Gaussian blobs, ``n`` train / ``n_val`` val."""

    def __init__(self, n: int = 2000, n_val: int = 500, batch_size: int = 100,
                 num_inputs: int = 8, generator: bool = False):
        g = torch.Generator().manual_seed(123)
        centers = torch.randn(10, num_inputs, generator=g) * 2

        def make(m):
            y = torch.randint(0, 10, (m,), generator=g)
            return centers[y] + torch.randn(m, num_inputs, generator=g), y
        self.train, self.val = make(n), make(n_val)
        self.batch_size = batch_size
        self.generator = torch.Generator() if generator else None

    def train_dataloader(self):
        return DataLoader(TensorDataset(*self.train), self.batch_size, shuffle=True,
                          generator=self.generator)

    def val_dataloader(self):
        return DataLoader(TensorDataset(*self.val), self.batch_size, shuffle=False)


class MLP(d2l.Classifier):
    """A small classifier with dropout (so seeding matters for its masks too)."""

    def __init__(self, lr: float = 0.1, num_inputs: int = 8, dropout: float = 0.1):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(num_inputs, 32), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(32, 10))


class Interrupting(MLP):
    """Raises KeyboardInterrupt (as Ctrl-C would) at a given training batch."""

    def __init__(self, stop_at: int, **kwargs):
        super().__init__(**kwargs)
        self.stop_at, self.calls = stop_at, 0

    def training_step(self, batch):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return super().training_step(batch)


class BNMLP(MLP):
    """The MLP with batch normalization (its running statistics are buffers)."""

    def __init__(self, lr: float = 0.1, num_inputs: int = 8):
        super().__init__(lr=lr, num_inputs=num_inputs)
        self.net = nn.Sequential(nn.Linear(num_inputs, 32), nn.BatchNorm1d(32), nn.ReLU(),
                                 nn.Linear(32, 10))


def make_model(seed: int = 0, cls=MLP, **kwargs):
    torch.manual_seed(seed)
    return cls(**kwargs)


def losses(history):
    return [(r["train_loss"], r["val_loss"], r["val_acc"]) for r in history]


def params(model):
    return [p.detach().clone() for p in model.parameters()]
