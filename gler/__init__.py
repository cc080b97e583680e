"""gler: GLER-BiGRUnet for InSAR surface-deformation forecasting, reproduced.

Huo et al. (2024), IEEE JSTARS 17, 14848-14861, doi:10.1109/JSTARS.2024.3443833.
The public API is re-exported here; notebooks import only these names.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
