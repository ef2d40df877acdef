"""The ``certificate`` maker of response injection: certificates a misbehaving Pairing hands out.

Used as ``{"set": {"data.client_crt": {"$make": "certificate", "variant": "expired"}}}`` on the
credentials route (see :mod:`hil.simulators.response_injection`). The maker signs the CSR of the
request being answered, so the device gets a certificate for *its own* key that is wrong in
exactly one way:

* ``garbage``: not a certificate at all;
* ``expired``: valid until a minute ago;
* ``not-yet-valid``: valid from tomorrow;
* ``short-lived``: valid for ``seconds`` (default 5) from now: renewal without a long wait;
* ``other-cn``: for another device of the realm;
* ``other-realm``: for the same device id in another realm;
* ``other-ca``: signed by a CA nobody trusts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Final

from hil.errors import PKIError
from hil.pki import HarnessPKI

__all__ = ["VARIANTS", "certificate_maker"]

VARIANTS: Final = ("garbage", "expired", "not-yet-valid", "short-lived", "other-cn", "other-realm", "other-ca")
_OTHER_DEVICE: Final = "AAAAAAAAAAAAAAAAAAAAAA"


def certificate_maker(pki: Callable[[], HarnessPKI], realm: str) -> Callable[[str, Any, Mapping[str, Any]], Any]:
    def make(path: str, request: Any, arguments: Mapping[str, Any]) -> Any:
        variant = arguments.get("variant")
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if variant == "garbage":
            return "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
        csr = request.get("data", {}).get("csr") if isinstance(request, dict) else None
        if not isinstance(csr, str):
            raise ValueError("the request has no data.csr to sign")
        parts = path.split("/")
        device_id = parts[parts.index("devices") + 1] if "devices" in parts else _OTHER_DEVICE
        now = dt.datetime.now(dt.UTC)
        not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=30)
        common_name = f"{realm}/{device_id}"
        if variant == "expired":
            not_before, not_after = now - dt.timedelta(days=2), now - dt.timedelta(minutes=1)
        elif variant == "not-yet-valid":
            not_before, not_after = now + dt.timedelta(days=1), now + dt.timedelta(days=30)
        elif variant == "short-lived":
            seconds = arguments.get("seconds", 5)
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
                raise ValueError(f"seconds must be a positive integer, got {seconds!r}")
            not_before, not_after = now - dt.timedelta(minutes=1), now + dt.timedelta(seconds=seconds)
        elif variant == "other-cn":
            common_name = f"{realm}/{_OTHER_DEVICE}"
        elif variant == "other-realm":
            common_name = f"other{realm}/{device_id}"
        try:
            pem = pki().sign_csr_variant(csr, common_name=common_name, not_before=not_before, not_after=not_after,
                                         foreign_ca=variant == "other-ca")
        except PKIError as exc:
            raise ValueError(str(exc)) from None
        return pem.decode("ascii")

    return make
