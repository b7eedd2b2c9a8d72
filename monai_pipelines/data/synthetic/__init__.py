
from .glacier_tiles import generate_glacier_tiles, glacier_tile
from .glioma_phantom import GliomaPhantom, generate_glioma, make_glioma_phantom
from .head_phantom import HeadPhantom, make_head_phantom, save_nifti, write_head_subject
from .mr_signal import SEQUENCE_PARAMS, spin_echo_signal
from .thorax_phantom import ThoraxPhantom, generate_thorax_phases, make_thorax_phantom
from .tissues import TISSUE_PROPERTIES, Tissue
