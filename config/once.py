"""Forms whose success shows a secret once (API keys, webhook endpoints).

The secret is shown in the POST's own response and never stored, so the page cannot be
a redirect; a reload would send the POST again and create a second key. Each form carries
a random submission token; the first POST with it claims it, a repeat finds it taken.
"""

import logging
import secrets

from django import forms
from django.core.cache import cache

logger = logging.getLogger(__name__)

# Long enough for a tab left open overnight and reloaded the next morning.
SUBMISSION_TTL_SECONDS = 24 * 60 * 60


class SubmitOnceForm(forms.Form):
    submission = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["submission"] = secrets.token_urlsafe(16)

    def _key(self) -> str:
        return f"submission:{self.cleaned_data.get('submission')}"

    def claim(self) -> bool:
        """True for the first submission of this form, False for a repeat of it."""
        if not self.cleaned_data.get("submission"):
            return True  # a hand-made POST without a token: nothing to compare with
        try:
            return bool(cache.add(self._key(), 1, SUBMISSION_TTL_SECONDS))
        except Exception:  # the cache is down: creating twice beats refusing to create
            logger.warning("could not claim a form submission; the cache is unavailable")
            return True

    def release(self) -> None:
        """Give the token back after a refusal, so the corrected form can be sent."""
        if self.cleaned_data.get("submission"):
            try:
                cache.delete(self._key())
            except Exception:
                logger.warning("could not release a form submission; the cache is unavailable")
