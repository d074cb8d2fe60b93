"""Secrets of the shop at rest, under GOODS_KEY: digital goods (AES-GCM sealed payloads and a keyed digest for
duplicate detection), documents sold as goods, and buyers' shipping addresses.

Every blob is sealed with an AAD that names what it is and the row it belongs to, so a blob copied into
another row, or a goods payload read as an address (or the other way round), does not open.
"""

import hashlib
import hmac

from config import Settings
from services.dto import GoodsFile
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

    def seal_file(self, document: GoodsFile, product_id: int) -> bytes:
        """A document (a file product's unit, or an unlimited product's payload), its name sealed with its
        bytes, bound to its product; it never opens as text goods, nor text goods as a document."""
        name = document.name.encode()
        return seal(self._key, len(name).to_bytes(2, "big") + name + document.data, _aad("file", product_id))

    def open_file(self, blob: bytes, product_id: int) -> GoodsFile:
        """Raises services.wallet.secretbox.DecryptionError as `open` does."""
        plain = open_sealed(self._key, blob, _aad("file", product_id))
        size = int.from_bytes(plain[:2], "big")
        return GoodsFile(plain[2 : 2 + size].decode(), plain[2 + size :])

    def seal_preview(self, text: str, product_id: int) -> bytes:
        """A stock upload waiting for the admin's confirmation: it opens only as a preview of that product,
        never as a unit."""
        return seal(self._key, text.encode(), _aad("preview", product_id))

    def open_preview(self, blob: bytes, product_id: int) -> str:
        """Raises services.wallet.secretbox.DecryptionError as `open` does."""
        return open_sealed(self._key, blob, _aad("preview", product_id)).decode()

    def seal_address(self, address: str, order_id: int) -> bytes:
        """An order's shipping address, bound to that order."""
        return seal(self._key, address.encode(), _address_aad("order", order_id))

    def open_address(self, blob: bytes, order_id: int) -> str:
        """Raises services.wallet.secretbox.DecryptionError for a wrong key, a damaged blob, or a blob of
        another order (or of anything else)."""
        return open_sealed(self._key, blob, _address_aad("order", order_id)).decode()

    def seal_address_draft(self, address: str, user_id: int) -> bytes:
        """An address a buyer typed at checkout, before there is an order: bound to that buyer."""
        return seal(self._key, address.encode(), _address_aad("draft", user_id))

    def open_address_draft(self, blob: bytes, user_id: int) -> str:
        """Raises services.wallet.secretbox.DecryptionError as open_address does."""
        return open_sealed(self._key, blob, _address_aad("draft", user_id)).decode()

    def digest(self, payload: str | bytes) -> str:
        """Equal payloads (texts, or a document's bytes) give equal digests, which reveal nothing without the key."""
        data = payload.encode() if isinstance(payload, str) else payload
        return hmac.new(self._digest_key, data, hashlib.sha256).hexdigest()


def _aad(kind: str, product_id: int) -> bytes:
    return f"goods-{kind}/v2:{product_id}".encode()


def _address_aad(kind: str, owner_id: int) -> bytes:
    return f"shipping-address-{kind}/v1:{owner_id}".encode()


def goods_cipher(settings: Settings) -> GoodsCipher | None:
    """GOODS_KEY when set, else WALLET_KEY; None when neither is (digital stock cannot be added then)."""
    secret = settings.goods_key.get_secret_value() or settings.wallet_key.get_secret_value()
    return GoodsCipher(secret) if secret else None
