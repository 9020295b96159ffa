"""The real cards provider, made slow enough for a browser to see the spinner."""

import time

from blogimages.providers.cards import CardsProvider


class SlowCardsProvider(CardsProvider):
    def generate(self, request):
        time.sleep(float(self.options.get("delay", 0)))
        return super().generate(request)
