"""Building SWUpdate images (``.swu``) for the end-to-end tests, and running Debian's swupdate.

A ``.swu`` is a cpio archive (``newc`` with checksums, "070702") whose first member is
``sw-description`` (libconfig syntax), then its CMS signature ``sw-description.sig`` (Debian's
build insists on signed images), then the images it lists. The signing key is a throwaway
self-signed certificate made per test run; swupdate is given it with ``-k``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HW_BOARD = "fleet-tester"
HW_REVISION = "1.0"
TRAILER = "TRAILER!!!"


def cpio_newc_crc(members: list[tuple[str, bytes]]) -> bytes:
    """A cpio archive in the "new ASCII with checksum" format swupdate reads."""
    out = bytearray()
    for ino, (name, data) in enumerate([*members, (TRAILER, b"")], start=1):
        encoded = name.encode() + b"\0"
        mode = 0 if name == TRAILER else 0o100644
        checksum = sum(data) & 0xFFFFFFFF
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), checksum)
        out += b"070702" + b"".join(b"%08X" % f for f in fields) + encoded
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


@dataclass(frozen=True)
class SigningKey:
    key: Path
    cert: Path


def make_signing_key(folder: Path) -> SigningKey:
    """A throwaway self-signed certificate for CMS signatures (swupdate's ``-k``)."""
    key, cert = folder / "swu-key.pem", folder / "swu-cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=fleet-test-signer",
            "-days", "2", "-addext", "keyUsage=digitalSignature",
            "-addext", "extendedKeyUsage=emailProtection",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return SigningKey(key, cert)


def build_swu(
    folder: Path, signer: SigningKey, *, version: str, install_to: Path, fail: bool = False
) -> bytes:
    """An update that writes ``payload.txt`` into ``install_to`` (swupdate's ``rawfile``
    handler, unprivileged) with a shell script run before and after; with ``fail`` the script
    exits 1 and the installation fails."""
    payload = f"fleet payload {version}\n".encode()
    if fail:
        script = b'#!/bin/sh\necho "fleet check refused the update ($1)" >&2\nexit 1\n'
    else:
        script = b"#!/bin/sh\nexit 0\n"
    description = f"""software =
{{
	version = "{version}";
	description = "fleet end-to-end test image";
	hardware-compatibility: [ "{HW_REVISION}" ];
	files: (
		{{
			filename = "payload.txt";
			path = "{install_to}/payload.txt";
			sha256 = "{hashlib.sha256(payload).hexdigest()}";
		}}
	);
	scripts: (
		{{
			filename = "check.sh";
			type = "shellscript";
			sha256 = "{hashlib.sha256(script).hexdigest()}";
		}}
	);
}}
""".encode()
    desc = folder / f"sw-description-{version}"
    sig = folder / f"sw-description-{version}.sig"
    desc.write_bytes(description)
    subprocess.run(
        [
            "openssl", "cms", "-sign", "-in", str(desc), "-out", str(sig),
            "-signer", str(signer.cert), "-inkey", str(signer.key),
            "-outform", "DER", "-nosmimecap", "-binary",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cpio_newc_crc(
        [
            ("sw-description", description),
            ("sw-description.sig", sig.read_bytes()),
            ("payload.txt", payload),
            ("check.sh", script),
        ]
    )


def swupdate_binary() -> str:
    """Debian's swupdate (scripts/test.sh installs it when missing)."""
    found = shutil.which("swupdate") or (
        "/usr/bin/swupdate" if Path("/usr/bin/swupdate").exists() else None
    )
    if found is None:
        raise RuntimeError("swupdate is not installed: apt-get install -y swupdate")
    return found


def suricatta_config(
    path: Path, *, url: str, controller_id: str, token: str, gateway: bool = False
) -> Path:
    """The swupdate configuration a device would ship (README, "Connecting devices")."""
    token_line = f'gatewaytoken = "{token}";' if gateway else f'targettoken = "{token}";'
    path.write_text(
        f"""globals :
{{
	verbose = true;
	loglevel = 6;
}};

suricatta :
{{
	tenant = "default";
	id = "{controller_id}";
	url = "{url}";
	polldelay = 1;
	{token_line}
}};

identify : (
	{{ name = "board"; value = "{HW_BOARD}"; }},
	{{ name = "client"; value = "swupdate"; }}
);
"""
    )
    return path


def swupdate_command(config: Path, signer: SigningKey, *, confirm: int | None = None) -> list[str]:
    """swupdate in suricatta (hawkBit) mode; ``confirm`` 2 reports the pending update as a
    success after the restart that follows an installation, as a device does on boot."""
    suricatta = "-c " + str(confirm) if confirm else ""
    command = [
        swupdate_binary(),
        "-f", str(config),
        "-k", str(signer.cert),
        "-H", f"{HW_BOARD}:{HW_REVISION}",
        "-u", suricatta,
    ]  # fmt: skip
    return command
