"""configure_optimizers may return a learning-rate scheduler, stepped per batch."""
import pytest
import torch

import d2lmini as d2l
from helpers import MLP, Interrupting, SyntheticData, losses


class OneCycleMLP(MLP):
    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)
        steps = self.trainer.max_epochs * self.trainer.num_train_batches
        return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=steps)


class OneCycleInterrupting(Interrupting, OneCycleMLP):
    pass


def _model(cls, *args):
    torch.manual_seed(0)
    return cls(*args)


def test_scheduler_is_stepped_every_batch():
    data = SyntheticData(n=400)  # 4 batches per epoch
    model = _model(OneCycleMLP)
    trainer = d2l.Trainer(max_epochs=2, progress=False)
    trainer.fit(model, data)
    assert trainer.scheduler.last_epoch == 8
    assert trainer.optim.param_groups[0]["lr"] < 0.1 * model.lr  # annealed at the end


def test_dict_form_and_bad_returns():
    class DictForm(MLP):
        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=self.lr)
            return {"optimizer": opt,
                    "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, step_size=1)}

    trainer = d2l.Trainer(max_epochs=1, progress=False)
    trainer.fit(_model(DictForm), SyntheticData(n=200))
    assert trainer.scheduler.last_epoch == 2

    class Bad(MLP):
        def configure_optimizers(self):
            return "sgd"

    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        d2l.Trainer(max_epochs=1, progress=False).fit(_model(Bad), SyntheticData(n=200))


def test_resume_restores_scheduler(tmp_path, in_a_notebook):
    data = SyntheticData(n=400)
    full_model = _model(OneCycleMLP)
    full = d2l.Trainer(max_epochs=3, seed=5, progress=False).fit(full_model, data)

    path = str(tmp_path / "ckpt.pt")
    model = _model(OneCycleInterrupting, 10)  # stops inside epoch 3
    d2l.Trainer(max_epochs=3, seed=5, progress=False, checkpoint_path=path).fit(model, data)
    resumed_model = _model(OneCycleMLP)
    trainer = d2l.Trainer(max_epochs=3, seed=5, progress=False, checkpoint_path=path)
    resumed = trainer.fit(resumed_model, data, resume=path)
    assert losses(resumed) == losses(full)
    for a, b in zip(resumed_model.parameters(), full_model.parameters()):
        assert torch.equal(a, b)
