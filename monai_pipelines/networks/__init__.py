
from monai_pipelines import lazy_submodules

from .glacier_unet import GlacierUNet
from .init import init_weights
from .medicalnet import load_medicalnet_weights
from .mmgan import MMGANDiscriminator, MMGANGenerator
from .patch_discriminator import NLayerDiscriminator
from .pix2pix_generator import Pix2PixUnetGenerator, pix2pix_generator
from .resnet3d import CosineLinear, ResNet3D, resnet50_3d
from .unet3d import UNet3D

__getattr__ = lazy_submodules(__name__)
