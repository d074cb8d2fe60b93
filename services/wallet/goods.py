"""Digital goods at rest: AES-GCM sealed payloads and a keyed digest for duplicate detection."""

import hashlib
import hmac

from config import Settings
from services.wallet.secretbox import DecryptionError, derive_key, open_sealed, seal

_SALT = b"shop-goods-key/v1"  # fixed: the secret itself must be long and random (config.check_secrets)
_LEGACY_AAD = b"goods-payload/v1"  # units sealed before payloads were bound to their product


class GoodsKeyMissing(Exception):
    """Digital goods need GOODS_KEY or WALLET_KEY."""


class GoodsCipher:
    def __init__(self, secret: str) -> None:
        self._key = derive_key(secret, _SALT, "goods-payload")
        self._digest_key = derive_key(secret, _SALT, "goods-digest")

    def seal(self, payload: str, product_id: int) -> bytes:
        """One unit's payload, bound to its product: a blob moved to another product's row does not open."""
        return seal(self._key, payload.encode(), _aad("unit", product_id))

    def open(self, blob: bytes, product_id: int) -> str:
        """The payload of a unit of `product_id`. Raises services.wallet.secretbox.DecryptionError for a
        wrong key, a damaged blob, or a blob that belongs to another product."""
        try:
            return open_sealed(self._key, blob, _aad("unit", product_id)).decode()
        except DecryptionError:
            return open_sealed(self._key, blob, _LEGACY_AAD).decode()

    def seal_preview(self, text: str, product_id: int) -> bytes:
        """A stock upload waiting for the admin's confirmation: it opens only as a preview of that product,
        never as a unit."""
        return seal(self._key, text.encode(), _aad("preview", product_id))

    def open_preview(self, blob: bytes, product_id: int) -> str:
        """Raises services.wallet.secretbox.DecryptionError as `open` does."""
        return open_sealed(self._key, blob, _aad("preview", product_id)).decode()

    def digest(self, payload: str) -> str:
        """Equal payloads give equal digests, which reveal nothing without the key."""
        return hmac.new(self._digest_key, payload.encode(), hashlib.sha256).hexdigest()


def _aad(kind: str, product_id: int) -> bytes:
    return f"goods-{kind}/v2:{product_id}".encode()


def goods_cipher(settings: Settings) -> GoodsCipher | None:
    """GOODS_KEY when set, else WALLET_KEY; None when neither is (digital stock cannot be added then)."""
    secret = settings.goods_key.get_secret_value() or settings.wallet_key.get_secret_value()
    return GoodsCipher(secret) if secret else None
