#!/usr/bin/python3
"""Known answers for the RMCP+ key exchange, computed a second way.

A second implementation of the IPMI v2.0 formulas (sections 13.21 to
13.23, 13.28.4, 13.31, 13.32) with Python's hmac and hashlib, to check the
daemon's Rust code against. Reads one JSON object of inputs on stdin,
prints one "name hex" line per result.
"""
import hashlib
import hmac
import json
import struct
import sys


def mac(name, key, data):
    return hmac.new(key, data, getattr(hashlib, name)).digest()


def main():
    x = json.load(sys.stdin)
    hash_name, keep = {"3": ("sha1", 12), "17": ("sha256", 16)}[x["suite"]]
    kuid = x["password"].encode().ljust(20, b"\0")
    sid_m = struct.pack("<I", x["console_session_id"])
    sid_c = struct.pack("<I", x["bmc_session_id"])
    r_m = bytes.fromhex(x["console_random"])
    r_c = bytes.fromhex(x["bmc_random"])
    guid = bytes.fromhex(x["bmc_guid"])
    name = x["user_name"].encode()
    role_name = bytes([x["role"], len(name)]) + name

    rakp2 = mac(hash_name, kuid, sid_m + sid_c + r_m + r_c + guid + role_name)
    rakp3 = mac(hash_name, kuid, r_c + sid_m + role_name)
    sik = mac(hash_name, kuid, r_m + r_c + role_name)
    k1 = mac(hash_name, sik, b"\x01" * 20)
    k2 = mac(hash_name, sik, b"\x02" * 20)
    rakp4 = mac(hash_name, sik, r_m + sid_c + guid)[:keep]
    auth_code = mac(hash_name, k1, bytes.fromhex(x["covered"]))[:keep]
    for label, value in [
        ("rakp2", rakp2),
        ("rakp3", rakp3),
        ("sik", sik),
        ("k2", k2),
        ("rakp4", rakp4),
        ("auth_code", auth_code),
    ]:
        print(label, value.hex())


main()
