
from .unet3d import UNet3D
from .mmgan import MMGANDiscriminator, MMGANGenerator
from .init import init_weights
from .pix2pix_generator import Pix2PixUnetGenerator, pix2pix_generator
from .patch_discriminator import NLayerDiscriminator
from .glacier_unet import GlacierUNet
from .resnet3d import ResNet3D, resnet50_3d
from .medicalnet import load_medicalnet_weights
