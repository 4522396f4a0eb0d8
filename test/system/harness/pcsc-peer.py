#!/usr/bin/python3
"""Another application on the same PC/SC card, for system tests: an independent PC/SC client
(pyscard, Debian's python3-pyscard), so the tests never check our PC/SC code with itself.

  pcsc-peer.py reset READER            connect shared, disconnect with SCARD_RESET_CARD
  pcsc-peer.py hold-exclusive READER   connect exclusive; print "holding"; keep it until killed
  pcsc-peer.py hold-transaction READER connect shared, begin a transaction; print "holding"; keep it until stdin closes
  pcsc-peer.py select-piv READER       connect shared, SELECT the PIV application (A0 00 00 03 08)
  pcsc-peer.py try-sign READER         SELECT OpenPGP, INTERNAL AUTHENTICATE without any VERIFY; print the status word
  pcsc-peer.py apdus READER HEX...     send APDUs in one transaction; print each status word
  pcsc-peer.py get-data READER TAG     SELECT OpenPGP, GET DATA TAG (hex, e.g. c4: PW status bytes); print the data in hex
  pcsc-peer.py time READER N HEX...    send each APDU once, then the last one 300 + N times more (each must answer
                                       9000); print the last N round trips' p50 and p95 in microseconds, as JSON:
                                       what the card and pcscd take for that APDU, with no agent in between

READER is a suffix of the reader name (e.g. "00 00"). PCSCLITE_CSOCK_NAME picks the pcscd.
"""
import json
import sys
import time

from smartcard import scard

OPENPGP_SELECT = bytes.fromhex("00a4040006d2760001240100")
PIV_SELECT = bytes.fromhex("00a4040005a000000308")


def check(what, rv):
    if rv != scard.SCARD_S_SUCCESS:
        raise SystemExit(f"{what}: {scard.SCardGetErrorMessage(rv)} ({rv & 0xffffffff:#010x})")


def connect(suffix, share=scard.SCARD_SHARE_SHARED, tries=50):
    rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    check("SCardEstablishContext", rv)
    rv, readers = scard.SCardListReaders(ctx, [])
    check("SCardListReaders", rv)
    matching = [r for r in readers if r.endswith(suffix)]
    if not matching:
        raise SystemExit(f"no reader ends with {suffix!r}: {readers}")
    for i in range(tries):
        rv, card, protocol = scard.SCardConnect(ctx, matching[0], share, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        # pcscd frees a stopped program's connection a moment after it exits.
        if rv == scard.SCARD_E_SHARING_VIOLATION and i + 1 < tries:
            time.sleep(0.1)
            continue
        check("SCardConnect", rv)
        return ctx, card, protocol
    raise SystemExit("unreachable")


def transmit(card, protocol, apdu):
    rv, resp = scard.SCardTransmit(card, protocol, list(apdu))
    check("SCardTransmit", rv)
    return bytes(resp)


def sw(resp):
    return resp[-2:].hex()


def main():
    cmd, suffix = sys.argv[1], sys.argv[2]
    if cmd == "reset":
        ctx, card, _ = connect(suffix)
        check("SCardDisconnect", scard.SCardDisconnect(card, scard.SCARD_RESET_CARD))
        print("reset")
    elif cmd == "hold-exclusive":
        ctx, card, _ = connect(suffix, scard.SCARD_SHARE_EXCLUSIVE)
        print("holding", flush=True)
        while True:
            time.sleep(1)
    elif cmd == "hold-transaction":
        ctx, card, _ = connect(suffix)
        check("SCardBeginTransaction", scard.SCardBeginTransaction(card))
        print("holding", flush=True)
        sys.stdin.read()
        check("SCardEndTransaction", scard.SCardEndTransaction(card, scard.SCARD_LEAVE_CARD))
        print("released", flush=True)
    elif cmd == "select-piv":
        ctx, card, protocol = connect(suffix)
        print(sw(transmit(card, protocol, PIV_SELECT)))
        check("SCardDisconnect", scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD))
    elif cmd == "try-sign":
        ctx, card, protocol = connect(suffix)
        check("SCardBeginTransaction", scard.SCardBeginTransaction(card))
        transmit(card, protocol, OPENPGP_SELECT)
        print(sw(transmit(card, protocol, bytes.fromhex("00880000040102030400"))))
        check("SCardEndTransaction", scard.SCardEndTransaction(card, scard.SCARD_LEAVE_CARD))
        check("SCardDisconnect", scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD))
    elif cmd == "apdus":
        ctx, card, protocol = connect(suffix)
        check("SCardBeginTransaction", scard.SCardBeginTransaction(card))
        for h in sys.argv[3:]:
            print(sw(transmit(card, protocol, bytes.fromhex(h))))
        check("SCardEndTransaction", scard.SCardEndTransaction(card, scard.SCARD_LEAVE_CARD))
        check("SCardDisconnect", scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD))
    elif cmd == "get-data":
        tag = int(sys.argv[3], 16)
        ctx, card, protocol = connect(suffix)
        check("SCardBeginTransaction", scard.SCardBeginTransaction(card))
        transmit(card, protocol, OPENPGP_SELECT)
        resp = transmit(card, protocol, bytes([0x00, 0xCA, tag >> 8, tag & 0xFF, 0x00]))
        check("SCardEndTransaction", scard.SCardEndTransaction(card, scard.SCARD_LEAVE_CARD))
        check("SCardDisconnect", scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD))
        if sw(resp) != "9000":
            raise SystemExit(f"GET DATA {tag:02x}: status {sw(resp)}")
        print(resp[:-2].hex())
    elif cmd == "time":
        n, apdus = int(sys.argv[3]), [bytes.fromhex(h) for h in sys.argv[4:]]
        ctx, card, protocol = connect(suffix)
        for apdu in apdus:
            resp = transmit(card, protocol, apdu)
            if sw(resp) != "9000":
                raise SystemExit(f"{apdu[:4].hex()}: status {sw(resp)}")
        samples = []
        for i in range(300 + n):
            t = time.perf_counter_ns()
            resp = transmit(card, protocol, apdus[-1])
            if i >= 300:
                samples.append((time.perf_counter_ns() - t) / 1000)
            if sw(resp) != "9000":
                raise SystemExit(f"{apdus[-1][:4].hex()}: status {sw(resp)}")
        check("SCardDisconnect", scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD))
        samples.sort()
        print(json.dumps({"p50": samples[len(samples) // 2], "p95": samples[min(len(samples) - 1, len(samples) * 95 // 100)]}))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
