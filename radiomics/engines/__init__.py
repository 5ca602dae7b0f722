"""Feature extraction engines behind one interface; MIRP is the default."""

from __future__ import annotations

from radiomics.engines.base import Engine, Extraction, FeatureValue, Volume, read_volume
from radiomics.engines.checks import ExtractionRefused
from radiomics.engines.presets import PRESETS, Preset, get_preset

DEFAULT_ENGINE = "mirp"


def get_engine(name: str = DEFAULT_ENGINE, parameters=None) -> Engine:
    """Return the engine; `parameters` (a file path or a dict) runs PyRadiomics natively."""
    from radiomics.engines.mirp_engine import MirpEngine
    from radiomics.engines.pyradiomics_engine import PyRadiomicsEngine

    engines: dict[str, type[Engine]] = {
        MirpEngine.name: MirpEngine,
        PyRadiomicsEngine.name: PyRadiomicsEngine,
    }
    if name not in engines:
        raise ValueError(
            f"Unknown engine '{name}'; choose one of {', '.join(engines)}."
        )
    if parameters is None:
        return engines[name]()
    if name != PyRadiomicsEngine.name:
        raise ValueError(
            f"A parameter file is PyRadiomics' own format; use it with the engine "
            f"'{PyRadiomicsEngine.name}', not '{name}'."
        )
    return PyRadiomicsEngine(parameters)


__all__ = [
    "PRESETS",
    "Engine",
    "Extraction",
    "ExtractionRefused",
    "FeatureValue",
    "Preset",
    "Volume",
    "get_engine",
    "get_preset",
    "read_volume",
]
