from .base import BaseProvider, Capabilities


class CardsProvider(BaseProvider):
    # Interim shell: the renderer is being written; see the cards task.
    display_name = "Cards (offline)"

    def capabilities(self, model: str = "") -> Capabilities:
        return Capabilities(models=("cards",), default_model="cards", max_n=10, supports_seed=True,
                            output_formats=("png", "webp", "jpeg"))
