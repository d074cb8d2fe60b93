"""Digital goods at rest: AES-GCM sealed payloads and a keyed digest for duplicate detection."""

import hashlib
import hmac

from config import Settings
from services.wallet.secretbox import derive_key, open_sealed, seal

_SALT = b"shop-goods-key/v1"  # fixed: the secret itself must be long and random (see README)
_AAD = b"goods-payload/v1"


class GoodsKeyMissing(Exception):
    """Digital goods need GOODS_KEY or WALLET_KEY."""


class GoodsCipher:
    def __init__(self, secret: str) -> None:
        self._key = derive_key(secret, _SALT, "goods-payload")
        self._digest_key = derive_key(secret, _SALT, "goods-digest")

    def seal(self, payload: str) -> bytes:
        return seal(self._key, payload.encode(), _AAD)

    def open(self, blob: bytes) -> str:
        """Raises services.wallet.secretbox.DecryptionError for a wrong key or a damaged blob."""
        return open_sealed(self._key, blob, _AAD).decode()

    def digest(self, payload: str) -> str:
        """Equal payloads give equal digests, which reveal nothing without the key."""
        return hmac.new(self._digest_key, payload.encode(), hashlib.sha256).hexdigest()


def goods_cipher(settings: Settings) -> GoodsCipher | None:
    """GOODS_KEY when set, else WALLET_KEY; None when neither is (digital stock cannot be added then)."""
    secret = settings.goods_key.get_secret_value() or settings.wallet_key.get_secret_value()
    return GoodsCipher(secret) if secret else None
