"""Tissue classes of the synthetic head phantom and their MR relaxation / CT attenuation properties."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["Tissue", "TissueProperties", "TISSUE_PROPERTIES", "DIPLOE_PROPERTIES"]


class Tissue(IntEnum):
    """Label values of the phantom's tissue map (stored as int8 / uint8)."""

    BACKGROUND = 0
    SCALP = 1  # skin and subcutaneous fat
    SKULL = 2  # cortical bone tables (the diploe is mixed in, see DIPLOE_PROPERTIES)
    CSF = 3
    GREY_MATTER = 4
    WHITE_MATTER = 5


@dataclass(frozen=True)
class TissueProperties:
    """MR and CT properties of one tissue: T1, T2 in ms at 1.5 T, proton density relative to CSF, CT in HU.

    ``ct_hu_spread`` is the amplitude (HU) of the smooth spatial variation around ``ct_hu``;
    scanner noise is added separately.
    """

    t1_ms: float
    t2_ms: float
    pd: float
    ct_hu: float
    ct_hu_spread: float


# Literature values, rounded to representative in-vivo figures at 1.5 T:
# - brain T1/T2: WM T1 600-790 ms, GM 920-1120 ms, CSF 3000-4500 ms; T2 WM 70-80, GM 90-110, CSF > 1500 ms
#   (compilations in Bojorquez et al. 2017, Magn Reson Imaging 35:69-80, and Stanisz et al. 2005, Magn Reson Med
#   54:507-512; Wansapura et al. 1999, J Magn Reson Imaging 9:531-538 give the same ordering at 3 T);
# - proton density relative to CSF: WM ~0.70, GM ~0.80 (water content, e.g. Tofts 2003 "Quantitative MRI of the brain");
# - fat: T1 ~260-340 ms, T2 ~60-85 ms at 1.5 T (Gold et al. 2004, AJR 183:343-351; Bojorquez 2017);
# - cortical bone: T2* ~0.4-0.5 ms, T1 ~200-300 ms, water fraction ~0.2 (Du & Bydder, ultrashort-TE studies), so it is
#   black on every conventional spin-echo image; diploe (fatty marrow) behaves like fat with less water;
# - CT: air -1000, fat about -100, CSF about 15, WM about 25, GM about 40 HU; bone 700 (diploe) to 1500 HU (cortical),
#   the skull's HU follows the cortical/diploe mixture smoothly (ct_hu +- ct_hu_spread spans 700..1500).
TISSUE_PROPERTIES: dict[Tissue, TissueProperties] = {
    Tissue.BACKGROUND: TissueProperties(t1_ms=1.0, t2_ms=1.0, pd=0.0, ct_hu=-1000.0, ct_hu_spread=0.0),
    Tissue.SCALP: TissueProperties(t1_ms=300.0, t2_ms=75.0, pd=0.90, ct_hu=-100.0, ct_hu_spread=15.0),
    Tissue.SKULL: TissueProperties(t1_ms=250.0, t2_ms=0.5, pd=0.20, ct_hu=1100.0, ct_hu_spread=400.0),
    Tissue.CSF: TissueProperties(t1_ms=4000.0, t2_ms=2000.0, pd=1.00, ct_hu=15.0, ct_hu_spread=4.0),
    Tissue.GREY_MATTER: TissueProperties(t1_ms=1050.0, t2_ms=95.0, pd=0.80, ct_hu=40.0, ct_hu_spread=4.0),
    Tissue.WHITE_MATTER: TissueProperties(t1_ms=650.0, t2_ms=75.0, pd=0.70, ct_hu=25.0, ct_hu_spread=4.0),
}

# Diploe (fatty marrow between the skull's cortical tables): bright on T1 like fat, yet 700 HU on CT.
DIPLOE_PROPERTIES = TissueProperties(t1_ms=350.0, t2_ms=60.0, pd=0.60, ct_hu=700.0, ct_hu_spread=0.0)
