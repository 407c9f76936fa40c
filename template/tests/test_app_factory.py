import gc

from app.core.config import Settings
from app.main import create_app


def test_what_startup_built_is_out_of_the_collectors_sight(settings: Settings) -> None:
    """Full garbage collections walk only what requests leave behind (see
    `freeze_startup_objects`)."""
    create_app(settings)
    assert gc.get_freeze_count() > 10_000
