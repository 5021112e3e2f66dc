"""Neural families (PyTorch + Lightning). torch and lightning are imported only inside methods,
so registering these families costs nothing at import time."""

from foxml_dagster.models.neural import families  # noqa: F401 - import registers families
