"""limalab: reproduce and extend the data ablations of LIMA (Zhou et al., 2023)."""

__version__ = "0.1.0"
