"""d2lmini: the companion library of the ResNet chapter.

``import d2lmini as d2l`` gives the names the book's code uses.
"""
from .hyperparameters import add_to_class, HyperParameters
from .devices import cpu, gpu, num_gpus, try_gpu, try_all_gpus, cpu_has_native_bf16
from .tensors import *  # noqa: F401,F403  (randn, reshape, ... as in the book)
from .mode import fast_mode
from .about import about_this_run
from .checks import (check_image_batch, check_positive_int, check_block_shapes,
                     check_resnet_arch, eval_mode, check_cifar_block, check_cifar_net,
                     check_grayscale_batch, check_recipe_name, check_residual,
                     check_block_input, check_resnet, check_resnet_input,
                     check_resnext_block, check_resnext_input)
from .guards import guard
from .board import ProgressBoard, in_notebook
from .display import use_svg_display
from .module import Module, Classifier, Classification, init_cnn

__version__ = "0.1.0"

# -- infrastructure added by each module's owner (one line each) --
from .trainer import Trainer, DivergenceError
from .small_maps import SmallMapConv2d, skip_padding_taps
from .checkpoint import seed_everything, CheckpointError
from .checkpoint_write import CheckpointWriteError
from .checkpointing import ResumeWarning
from .devices import FallbackWarning
from .board import BoardWarning
from .legacy import train_ch6, evaluate_accuracy_gpu, accuracy, Accumulator, Timer
from .data import DataModule, FashionMNIST, load_data_fashion_mnist, show_images, DatasetNotFoundError, CorruptDatasetError, DatasetFallbackWarning

# -- modules generated from the notebooks (make export: tools/export.py) --
from .resnet import Residual, ResNet, ResNet18, resnet_block, min_input_size
from .resnet_family import ResNetFamily, BasicBlock, Bottleneck, count_parameters, count_macs, load_torchvision, export_torchvision
from .why_residual import (CifarBlock, CifarNet, PlainNet, CifarResNet, count_weight_layers,
                           conv_gradient_norms, calibrate, gradients_on_a_line,
                           neighbour_correlation, deletable_blocks, without_block,
                           accuracy_on, with_new_blocks)
from .resnet_variants import (PreActResidual, PreActResNet, PreActResNet18, Inception, ParallelPaths)
from .recipes import random_shift_flip, ResNet18Plus, RECIPES
from .resnext import ResNeXtBlock
from .landscape import (random_direction, set_weights, loss_landscape,
                        check_has_weights, check_landscape)

# Plots as SVG with text labels inside Jupyter, as the book shows them
# (d2lmini/display.py); a script's matplotlib settings are not touched.
if in_notebook():
    use_svg_display()
