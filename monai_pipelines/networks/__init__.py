
from .unet3d import UNet3D
from .mmgan import MMGANDiscriminator, MMGANGenerator
