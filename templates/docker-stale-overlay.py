#!/usr/bin/python3
# berth: written by berth from templates/docker-stale-overlay.py; run before every dockerd start
# (ExecStartPre of docker.service on the VMs, scripts/local-cluster/daemons.ts locally).
"""Removes the overlay driver's stale endpoint records from libnetwork's local store.

dockerd 20.10's overlay driver keeps one record per local overlay endpoint in
<data-root>/network/files/local-kv.db. At start it re-attaches each one to its network's sandbox, a
network namespace under <exec-root>/netns. After a reboot or a crash of the whole node (every
process gone, the exec root empty) that namespace is gone: the restore fails, and the driver
remembers the failure for the network ("could not get network sandbox (oper true)") until dockerd
starts again, so no container of that network can start on the node. The engine deletes these
records itself once it has started (its stale sandbox clean-up), too late for that start. This does
the same before it: a record whose sandbox namespace is not mounted can never be restored.

The store is a bolt database. It is rewritten whole (every other record kept byte for byte), read
back and checked before it replaces the original, which is kept beside it. Run it only while the
engine is stopped (libnetwork opens the file for each operation, so a running engine holds no
lock that would keep this out). Nothing is done to a file holding anything this script does not
understand.
"""
import argparse
import fcntl
import json
import os
import struct
import sys

OVERLAY_ENDPOINTS = b"docker/network/v1.0/overlay/endpoint/"
STORE = "network/files/local-kv.db"
BACKUP_SUFFIX = ".before-berth-clean"

# The bolt file format (go.etcd.io/bbolt, version 2), little-endian.
PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, element count, overflow pages
META = struct.Struct("<IIIIQQQQQ")  # magic, version, page size, flags, root bucket (page, sequence), freelist, high water mark, txid
LEAF_ELEMENT = struct.Struct("<IIII")  # flags, key position (from the element), key size, value size
BRANCH_ELEMENT = struct.Struct("<IIQ")  # key position, key size, child page
BUCKET = struct.Struct("<QQ")  # root page (0: inline), sequence
BRANCH_PAGE, LEAF_PAGE, META_PAGE, FREELIST_PAGE = 0x01, 0x02, 0x04, 0x10
BUCKET_ELEMENT = 0x01
MAGIC, VERSION = 0xED0CDAED, 2


class Unsupported(Exception):
    """The file is not a bolt database this script knows how to rewrite."""


def fnv64a(data):
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


# ---------------------------------------------------------------------------------------------
# Reading


def read_meta(data, offset):
    fields = META.unpack_from(data, offset + PAGE_HEADER.size)
    checksum = struct.unpack_from("<Q", data, offset + PAGE_HEADER.size + META.size)[0]
    valid = fields[0] == MAGIC and fields[1] == VERSION and fnv64a(data[offset + PAGE_HEADER.size:offset + PAGE_HEADER.size + META.size]) == checksum
    return fields if valid else None


def newest_meta(data):
    if len(data) < 2 * PAGE_HEADER.size + 2 * META.size:
        raise Unsupported("too short for a bolt database")
    first = read_meta(data, 0)
    page_size = first[2] if first else 4096
    second = read_meta(data, page_size) if len(data) >= page_size + PAGE_HEADER.size + META.size + 8 else None
    metas = [meta for meta in (first, second) if meta]
    if not metas:
        raise Unsupported("no valid bolt meta page")
    return max(metas, key=lambda meta: meta[8])


def page_elements(data, offset):
    """(flags, key, value) of a leaf page, or (None, key, child page) of a branch page, at offset."""
    _, flags, count, _ = PAGE_HEADER.unpack_from(data, offset)
    start = offset + PAGE_HEADER.size
    elements = []
    if flags & LEAF_PAGE:
        for index in range(count):
            at = start + index * LEAF_ELEMENT.size
            element_flags, position, key_size, value_size = LEAF_ELEMENT.unpack_from(data, at)
            key = data[at + position:at + position + key_size]
            elements.append((element_flags, key, data[at + position + key_size:at + position + key_size + value_size]))
    elif flags & BRANCH_PAGE:
        for index in range(count):
            at = start + index * BRANCH_ELEMENT.size
            position, key_size, child = BRANCH_ELEMENT.unpack_from(data, at)
            elements.append((None, data[at + position:at + position + key_size], child))
    else:
        raise Unsupported("page at offset %d is neither a branch nor a leaf (flags %#x)" % (offset, flags))
    return elements


def tree_elements(data, page_size, root):
    """The leaf elements of the tree rooted at page `root`, in key order."""
    found = []
    for flags, key, value in page_elements(data, root * page_size):
        if flags is None:
            found.extend(tree_elements(data, page_size, value))
        else:
            found.append((flags, key, value))
    return found


def bucket_elements(data, page_size, header_and_inline):
    root = BUCKET.unpack_from(header_and_inline)[0]
    if root == 0:
        return page_elements(header_and_inline, BUCKET.size)
    return tree_elements(data, page_size, root)


def read_store(data):
    """(page size, txid, root sequence, [(bucket name, sequence, [(key, value)])])."""
    meta = newest_meta(data)
    page_size, root, root_sequence, txid = meta[2], meta[4], meta[5], meta[8]
    buckets = []
    for flags, name, value in tree_elements(data, page_size, root):
        if not flags & BUCKET_ELEMENT:
            raise Unsupported("a plain key %r at the top level" % name)
        records = []
        for record_flags, key, record in bucket_elements(data, page_size, value):
            if record_flags & BUCKET_ELEMENT:
                raise Unsupported("a nested bucket %r in %r" % (key, name))
            records.append((key, record))
        buckets.append((name, BUCKET.unpack_from(value)[1], records))
    return page_size, txid, root_sequence, buckets


# ---------------------------------------------------------------------------------------------
# Writing: meta pages 0 and 1, an empty freelist at 2, then every bucket's tree, then the root.


class Writer:
    def __init__(self, page_size):
        self.page_size = page_size
        self.pages = {}
        self.next_page = 3

    def page(self, flags, elements):
        """Writes one branch or leaf page (with overflow pages if it needs them); returns its id."""
        entry = BRANCH_ELEMENT if flags == BRANCH_PAGE else LEAF_ELEMENT
        headers, payload = b"", b""
        for index, (element_flags, key, value) in enumerate(elements):
            position = (len(elements) - index) * entry.size + len(payload)
            if flags == BRANCH_PAGE:
                headers += BRANCH_ELEMENT.pack(position, len(key), value)
                payload += key
            else:
                headers += LEAF_ELEMENT.pack(element_flags, position, len(key), len(value))
                payload += key + value
        size = PAGE_HEADER.size + len(headers) + len(payload)
        count = -(-size // self.page_size)
        page_id = self.next_page
        self.next_page += count
        body = PAGE_HEADER.pack(page_id, flags, len(elements), count - 1) + headers + payload
        self.pages[page_id] = body + b"\0" * (count * self.page_size - len(body))
        return page_id

    def tree(self, elements):
        """Leaves filled up to a page each, branches above them until one page is the root."""
        flags, level = LEAF_PAGE, elements
        while True:
            entry = BRANCH_ELEMENT if flags == BRANCH_PAGE else LEAF_ELEMENT
            groups, group, size = [], [], PAGE_HEADER.size
            for element in level:
                need = entry.size + len(element[1]) + (0 if flags == BRANCH_PAGE else len(element[2]))
                if group and size + need > self.page_size:
                    groups.append(group)
                    group, size = [], PAGE_HEADER.size
                group.append(element)
                size += need
            groups.append(group)
            pages = [(group[0][1] if group else b"", self.page(flags, group)) for group in groups]
            if len(pages) == 1:
                return pages[0][1]
            flags, level = BRANCH_PAGE, [(None, key, page_id) for key, page_id in pages]

    def meta(self, page_id, root, root_sequence, txid):
        fields = META.pack(MAGIC, VERSION, self.page_size, 0, root, root_sequence, 2, self.next_page, txid)
        body = PAGE_HEADER.pack(page_id, META_PAGE, 0, 0) + fields + struct.pack("<Q", fnv64a(fields))
        return body + b"\0" * (self.page_size - len(body))

    def database(self, txid, root_sequence, buckets):
        roots = [(BUCKET_ELEMENT, name, BUCKET.pack(self.tree([(0, key, value) for key, value in records]), sequence)) for name, sequence, records in buckets]
        root = self.tree(roots)
        freelist = PAGE_HEADER.pack(2, FREELIST_PAGE, 0, 0)
        pages = [self.meta(0, root, root_sequence, txid), self.meta(1, root, root_sequence, txid), freelist + b"\0" * (self.page_size - len(freelist))]
        return b"".join(pages + [self.pages[page_id] for page_id in sorted(self.pages)])


# ---------------------------------------------------------------------------------------------


def mounted_sandboxes(exec_root):
    """Network ids (their first 10 characters) whose overlay sandbox namespace is mounted."""
    directory = os.path.join(exec_root, "netns")
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return set()
    return {name.split("-", 1)[1] for name in names if "-" in name and os.path.ismount(os.path.join(directory, name))}


def is_stale(key, value, sandboxes):
    """An overlay endpoint record (libkv's 8-byte index, then JSON naming its network) whose sandbox is gone."""
    if not key.startswith(OVERLAY_ENDPOINTS):
        return False
    try:
        network = json.loads(value[8:].decode("utf-8"))["nid"]
    except (ValueError, KeyError, TypeError):
        return False  # not a record this script understands: the engine decides about it
    return network[:10] not in sandboxes


def clean(data_root, exec_root):
    path = os.path.join(data_root, STORE)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return "no local store at %s: nothing to do" % path
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "%s is locked by another process: nothing to do" % path
        data = handle.read()
        page_size, txid, root_sequence, buckets = read_store(data)
        sandboxes = mounted_sandboxes(exec_root)
        kept = [(name, sequence, [(key, value) for key, value in records if not is_stale(key, value, sandboxes)]) for name, sequence, records in buckets]
        removed = sum(len(records) for _, _, records in buckets) - sum(len(records) for _, _, records in kept)
        if removed == 0:
            return "no stale overlay endpoint in %s" % path
        rewritten = Writer(page_size).database(txid + 1, root_sequence, kept)
        if read_store(rewritten)[3] != kept:
            raise Unsupported("the rewritten store does not read back as written")
        partial = path + ".berth-partial"
        with open(partial, "wb") as out:
            out.write(rewritten)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(partial, os.stat(path).st_mode & 0o7777)
        with open(path + BACKUP_SUFFIX, "wb") as backup:
            backup.write(data)
        os.replace(partial, path)
        return "removed %d stale overlay endpoint record(s) from %s (the original is %s%s)" % (removed, path, path, BACKUP_SUFFIX)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default="/var/lib/docker")
    parser.add_argument("--exec-root", default="/var/run/docker")
    args = parser.parse_args()
    try:
        print("berth-docker-stale-overlay: " + clean(args.data_root, args.exec_root))
    except (Unsupported, struct.error, IndexError) as error:  # a damaged or foreign file: the engine decides
        print("berth-docker-stale-overlay: left the local store as it is: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
