"""Reproducible MONAI Bundles: MRI->CT, MM-GAN, CT phase pix2pix, glioma grading, glacier segmentation."""

__version__ = "0.1.0"
