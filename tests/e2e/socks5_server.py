#!/usr/bin/env python3
"""A small SOCKS5 server for the upstream-chaining e2e tests (tests/e2e/upstream_socks5_e2e_test.cc).

Unlike microsocks it reports its real bound address in the CONNECT reply (as Dante does), which
a middle-end link needs: the middle-end derives its keys from the address it sees. Loopback only.
RFC 1928 CONNECT to IPv4/IPv6 literals, RFC 1929 user/password when --user is given.

Usage: socks5_server.py --port-file FILE [--user U --password P] [--log FILE] [--drip]
Writes its port to FILE once listening; appends "connect HOST:PORT from BOUND" lines to --log.
--drip sends every reply one byte at a time (separate sends, 20 ms apart), so the proxy sees
them fragmented.
"""
import argparse
import ipaddress
import socket
import struct
import sys
import threading
import time


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (dst,):
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass


def serve(client, args, log_lock):
    upstream = None
    if args.drip:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        plain_sendall = client.sendall

        def drip(data):
            for i in range(len(data)):
                plain_sendall(data[i:i + 1])
                time.sleep(0.02)

        reply_sendall = drip
    else:
        reply_sendall = client.sendall
    try:
        ver, nmethods = recv_exact(client, 2)
        methods = recv_exact(client, nmethods)
        want = 0x02 if args.user else 0x00
        if ver != 5 or want not in methods:
            reply_sendall(b"\x05\xff")
            return
        reply_sendall(bytes([5, want]))
        if args.user:
            ver, ulen = recv_exact(client, 2)
            user = recv_exact(client, ulen)
            (plen,) = recv_exact(client, 1)
            password = recv_exact(client, plen)
            ok = ver == 1 and user == args.user.encode() and password == args.password.encode()
            reply_sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                return
        ver, cmd, _, atyp = recv_exact(client, 4)
        if atyp == 1:
            host = str(ipaddress.IPv4Address(recv_exact(client, 4)))
            family = socket.AF_INET
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(recv_exact(client, 16)))
            family = socket.AF_INET6
        else:
            reply_sendall(b"\x05\x08\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        (port,) = struct.unpack(">H", recv_exact(client, 2))
        if ver != 5 or cmd != 1:
            reply_sendall(b"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        upstream = socket.socket(family, socket.SOCK_STREAM)
        upstream.settimeout(5)
        try:
            upstream.connect((host, port))
        except OSError:
            reply_sendall(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
            return
        upstream.settimeout(None)
        bound = upstream.getsockname()
        bound_ip = ipaddress.ip_address(bound[0])
        reply = b"\x05\x00\x00" + (b"\x01" if bound_ip.version == 4 else b"\x04")
        reply += bound_ip.packed + struct.pack(">H", bound[1])
        reply_sendall(reply)
        if args.log:
            with log_lock, open(args.log, "a") as f:
                f.write("connect %s:%d from %s:%d\n" % (host, port, bound[0], bound[1]))
        t = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        t.start()
        pipe(client, upstream)
        t.join()
    except (OSError, ConnectionError, ValueError):
        pass
    finally:
        client.close()
        if upstream is not None:
            upstream.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--log")
    p.add_argument("--drip", action="store_true")
    args = p.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    log_lock = threading.Lock()
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client, args, log_lock), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
