"""The 'going further' pieces exported from notebooks/05_training.ipynb."""
import pytest
import torch
from torch.nn import functional as F

import d2lmini as d2l


def test_shift_flip_moves_each_pixel_by_at_most_pad():
    torch.manual_seed(0)
    X = torch.zeros(64, 1, 9, 9)
    X[:, :, 4, 4] = 1.0
    Y = d2l.random_shift_flip(X, pad=2)
    assert Y.shape == X.shape and torch.equal(Y.sum(dim=(1, 2, 3)), torch.ones(64))
    rows, cols = torch.nonzero(Y[:, 0], as_tuple=True)[1:]
    assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 2 and cols.max() <= 6
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5  # it really varies


def test_shift_flip_flips_about_half_and_keeps_content():
    torch.manual_seed(1)
    X = torch.rand(2000, 1, 6, 6)
    Y = d2l.random_shift_flip(X, pad=0)  # no shift: only flips
    flipped = (Y == X.flip(-1)).flatten(1).all(dim=1)
    same = (Y == X).flatten(1).all(dim=1)
    assert bool((flipped | same).all())
    assert 0.45 < flipped.float().mean().item() < 0.55


def test_resnet18plus_recipe():
    torch.manual_seed(0)
    model = d2l.ResNet18Plus(lr=0.1)
    assert model.hparams == {"num_classes": 10, "lr": 0.1, "weight_decay": 5e-4,
                             "label_smoothing": 0.1}
    Y_hat, Y = torch.randn(8, 10), torch.randint(0, 10, (8,))
    model.train()
    assert torch.allclose(model.loss(Y_hat, Y), F.cross_entropy(Y_hat, Y, label_smoothing=0.1))
    model.eval()  # validation loss is the plain cross-entropy, comparable with the book's
    assert torch.allclose(model.loss(Y_hat, Y), F.cross_entropy(Y_hat, Y))


def _tiny_data(n):
    X, y = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,))

    class Tiny(d2l.DataModule):
        def __init__(self):
            super().__init__()
            self.batch_size = 16

        def get_dataloader(self, train):
            return self.get_tensorloader((X, y), train)

    return Tiny()



def test_resnet18plus_trains_with_its_schedule():
    torch.manual_seed(0)
    model = d2l.ResNet18Plus(lr=0.05)
    model.board.display = False
    trainer = d2l.Trainer(max_epochs=2, progress=False)
    history = trainer.fit(model, _tiny_data(64))
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(r["train_loss"])) for r in history)
    assert isinstance(trainer.scheduler, torch.optim.lr_scheduler.OneCycleLR)
    assert trainer.scheduler.last_epoch == 8  # stepped once per batch
    assert trainer.optim.param_groups[0]["nesterov"] and trainer.optim.param_groups[0]["weight_decay"] == 5e-4


def test_resnet18plus_one_cycle_on_a_four_step_smoke_run():
    # 4 steps: the default 25% warm-up would be a single step, which
    # OneCycleLR cannot split (it divided by zero); warm-up is widened to 2.
    class RecordingLR(d2l.ResNet18Plus):
        def training_step(self, batch):
            self.lrs.append(self.trainer.optim.param_groups[0]["lr"])
            return super().training_step(batch)

    torch.manual_seed(0)
    model = RecordingLR(lr=0.1)
    model.board.display = False
    model.lrs = lrs = []
    history = d2l.Trainer(max_epochs=1, progress=False).fit(model, _tiny_data(64))
    assert len(history) == 1 and len(lrs) == 4
    assert lrs[1] == max(lrs) and abs(lrs[1] - 0.1) < 1e-9  # peak after the warm-up
    assert lrs[0] < lrs[1] and lrs[3] < lrs[2] < lrs[1]


def test_resnet18plus_too_short_for_one_cycle_says_so():
    torch.manual_seed(0)
    model = d2l.ResNet18Plus(lr=0.1)
    model.board.display = False
    with pytest.raises(ValueError, match="one-cycle steps must be an int >= 4, got 2"):
        d2l.Trainer(max_epochs=1, progress=False).fit(model, _tiny_data(32))
