"""``grep11-emulator masterkey``: master key rotation as HPCS operators run it.

The subcommands change the master key file of a state folder (``ep11core.masterkey``) and work
the same whether a server on that folder is running or stopped. A running server follows the
file: each command waits ``masterkey.RELOAD_INTERVAL_SECONDS`` after its change, so every
running server on the folder applies the change from its next call on.

A rotation: ``load-new`` (the new register becomes pending), ``commit`` (RewrapKeyBlob now
reseals under the new key; every other call is refused with CKR_FUNCTION_CANCELED), the
application rewraps its stored blobs, then ``finalize`` (the new key becomes current, the old
one is dropped, and blobs that were not rewrapped fail with CKR_IBM_WKID_MISMATCH).
``discard`` empties the new register at any point before finalize.

Exit status 0 means done, 1 that the registers do not allow the step (for example commit
without a pending key), and 2 that the master key file or a key part file is unusable or that
the key parts XOR to an all-zero key. Exit status 1 and 2 leave the file unchanged.
"""

import argparse
import json
import sys
import time

from ep11core import masterkey
from ep11core.masterkey import MasterKeyError, Registers, RotationError

EXIT_STEP_NOT_ALLOWED = 1
EXIT_FILE_ERROR = 2


def _status_document(path: str, registers: Registers) -> dict:
    new = registers.new
    return {
        "file": path,
        "current_wkid": registers.current.wkid.hex(),
        "new_wkid": new.wkid.hex() if new is not None else None,
        "new_state": registers.new_state.value,
    }


def _print_status(path: str, registers: Registers, as_json: bool) -> None:
    document = _status_document(path, registers)
    if as_json:
        print(json.dumps(document))
        return
    print(f"master key file: {path}")
    print(f"current: WKID {document['current_wkid']}")
    if registers.new is None:
        print("new: empty")
    else:
        print(f"new: WKID {document['new_wkid']} ({document['new_state']})")


def _new_key(args: argparse.Namespace) -> masterkey.MasterKey:
    if not args.key_part:
        return masterkey.MasterKey.generate()
    return masterkey.key_from_parts(masterkey.read_key_part(path) for path in args.key_part)


def _next_step_hint(registers: Registers) -> str:
    hints = {
        masterkey.NewKeyState.EMPTY: "",
        masterkey.NewKeyState.PENDING: "next: commit, or discard",
        masterkey.NewKeyState.COMMITTED: (
            "calls other than RewrapKeyBlob are refused until finalize or discard; "
            "rewrap stored blobs, then finalize"
        ),
    }
    return hints[registers.new_state]


# Each step takes the path of the master key file and returns the new registers.
STEPS = {
    "load-new": lambda path, args: masterkey.load_new(path, _new_key(args)),
    "commit": lambda path, args: masterkey.commit(path),
    "finalize": lambda path, args: masterkey.finalize(path),
    "discard": lambda path, args: masterkey.discard(path),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the masterkey subcommands and their options to ``parser``."""
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")
    descriptions = {
        "status": "print the WKIDs of the current and the new master key and the new key's state",
        "load-new": "load a new master key into the empty new register, as a pending key; "
        "without --key-part, a random key",
        "commit": "commit the pending new master key: RewrapKeyBlob reseals under it from now "
        "on, and every other call is refused until finalize or discard",
        "finalize": "make the committed new master key current and drop the old one; blobs "
        "that were not rewrapped become unusable",
        "discard": "empty the new master key register (pending or committed); blobs rewrapped "
        "under it become unusable, the originals keep working",
    }
    for name, description in descriptions.items():
        step = steps.add_parser(name, help=description, description=description)
        step.add_argument(
            "--state-dir",
            default=None,
            help="folder of master-key.json (default: the same as for serve)",
        )
        if name == "status":
            step.add_argument("--json", action="store_true", help="print one JSON object")
        if name == "load-new":
            step.add_argument(
                "--key-part",
                action="append",
                metavar="FILE",
                help="file of 64 hex digits; repeat it to combine parts by XOR, as HPCS "
                "administrators load a master key from parts; parts that XOR to all zeros are "
                "rejected (default: a random key)",
            )


def run(args: argparse.Namespace, state_dir: str) -> int:
    """Run the masterkey step of ``args`` on the master key file of ``state_dir``."""
    path = masterkey.key_file_path(state_dir)
    try:
        if args.step == "status":
            _print_status(path, masterkey.load_registers(path), args.json)
            return 0
        registers = STEPS[args.step](path, args)
    except RotationError as error:
        print(f"masterkey {args.step}: {error}", file=sys.stderr)
        return EXIT_STEP_NOT_ALLOWED
    except MasterKeyError as error:
        print(f"masterkey {args.step}: {error}", file=sys.stderr)
        return EXIT_FILE_ERROR
    # Give running servers on this folder time to see the change (see the module docstring).
    time.sleep(masterkey.RELOAD_INTERVAL_SECONDS)
    _print_status(path, registers, as_json=False)
    hint = _next_step_hint(registers)
    if hint:
        print(hint)
    return 0
