#!/usr/bin/env bash
# Builds spry's default Linux test guest from Debian packages only:
#   OUTDIR/bzImage            the kernel of the current linux-image-*-cloud-amd64 package
#   OUTDIR/vmlinux            the uncompressed ELF inside it (carries the PVH entry note)
#   OUTDIR/initramfs.cpio.gz  busybox-static + the virtio modules + scripts/guest/init as /init
#   OUTDIR/kernel.txt         "PACKAGE VERSION" of the kernel package used
# The kernel .deb is fetched with apt-get download into a cache (OUTDIR/cache, or
# $SPRY_GUEST_CACHE); busybox comes from the host's busybox-static. Idempotent: does nothing
# when the outputs are newer than their inputs and were made from the current package.
# Usage: scripts/mkguest.sh [OUTDIR]   (default ./guest). Needs: scripts/setup.sh.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INIT_SRC="$SCRIPT_DIR/guest/init"
BUSYBOX=${SPRY_BUSYBOX:-/bin/busybox}
META_PKG=linux-image-cloud-amd64

# The virtio modules, in load order (a module only needs those before it).
MODULES=(virtio_ring virtio virtio_mmio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci virtio_blk failover net_failover virtio_net virtio_console virtio-rng)

# Busybox applets the guest's /init relies on.
APPLETS=(sh mount insmod devmem poweroff setsid cttyhack cat echo)

log() { printf 'mkguest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints "PACKAGE VERSION" of the kernel image the metapackage currently depends on.
resolve_kernel_package() {
	local pkg ver
	if [[ -n "${SPRY_KERNEL_PKG:-}" ]]; then
		pkg=$SPRY_KERNEL_PKG
	else
		pkg=$(apt-cache depends "$META_PKG" 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }') || true
	fi
	[[ -n "$pkg" ]] || return 1
	ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }') || true
	[[ -n "$ver" && "$ver" != "(none)" ]] || return 1
	printf '%s %s\n' "$pkg" "$ver"
}

# Prints the path of the .deb of PACKAGE VERSION in CACHE, downloading it when absent.
fetch_deb() {
	local cache=$1 pkg=$2 ver=$3 deb
	deb="$cache/${pkg}_${ver//:/%3a}_amd64.deb"
	if [[ ! -s "$deb" ]]; then
		log "downloading $pkg=$ver"
		# As root, apt would drop to the _apt user, who may not be able to write to the cache.
		local -a opts=()
		[[ "$(id -u)" -ne 0 ]] || opts=(-o APT::Sandbox::User=root)
		(cd "$cache" && apt-get download -q "${opts[@]}" "$pkg=$ver" >&2) ||
			die "apt-get download $pkg=$ver failed (run apt-get update?)"
		[[ -s "$deb" ]] || die "apt-get download did not produce $deb"
	fi
	printf '%s\n' "$deb"
}

# Without package lists (offline), falls back to the newest cached kernel .deb.
newest_cached_deb() {
	local cache=$1
	find "$cache" -maxdepth 1 -name 'linux-image-*-cloud-amd64_*_amd64.deb' -printf '%f\n' |
		sort -V | tail -n 1
}

# True when every output exists, is newer than every input, and STAMP matches.
up_to_date() {
	local outdir=$1 stamp=$2 out in
	shift 2
	[[ -f "$outdir/kernel.txt" && "$(cat "$outdir/kernel.txt")" == "$stamp" ]] || return 1
	for out in bzImage vmlinux initramfs.cpio.gz; do
		[[ -s "$outdir/$out" ]] || return 1
		for in in "$@"; do
			[[ "$outdir/$out" -nt "$in" ]] || return 1
		done
	done
}

# Writes the uncompressed kernel ELF inside bzImage SRC to DST.
extract_vmlinux() {
	local src=$1 dst=$2 work=$3 fmt expected actual
	# Cut the compressed payload out of the bzImage using its setup header (boot protocol
	# >= 2.08: payload_offset at 0x248 and payload_length at 0x24c, both relative to the
	# protected-mode code after the setup sectors). The kernel build appends the
	# uncompressed size as 4 little-endian bytes: printed, and left out of the payload.
	read -r fmt expected < <(python3 - "$src" "$work/payload" <<'PY'
import struct, sys
img = open(sys.argv[1], "rb").read()
if img[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", img, 0x206)[0] < 0x208:
    sys.exit("not a bzImage with boot protocol >= 2.08")
setup_sects = img[0x1f1] or 4
off, length = struct.unpack_from("<II", img, 0x248)
start = (setup_sects + 1) * 512 + off
payload = img[start:start + length]
if len(payload) != length or length < 8:
    sys.exit("payload outside the image")
magics = [(b"\x02\x21\x4c\x18", "lz4"), (b"\x04\x22\x4d\x18", "lz4"),
          (b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd")]
fmt = next((name for magic, name in magics if payload.startswith(magic)), None)
if fmt is None:
    sys.exit("unknown payload compression, magic %s" % payload[:6].hex())
open(sys.argv[2], "wb").write(payload[:-4])
print(fmt, struct.unpack("<I", payload[-4:])[0])
PY
	) || die "cannot find the compressed payload in $src"
	command -v "$fmt" >/dev/null || die "$fmt is needed to decompress the kernel (scripts/setup.sh)"
	"$fmt" -dc <"$work/payload" >"$dst" || die "$fmt failed to decompress the kernel payload"
	actual=$(stat -c %s "$dst")
	[[ "$actual" == "$expected" ]] || die "vmlinux is $actual bytes, the bzImage says $expected"
	[[ "$(head -c 4 "$dst" | od -An -tx1 | tr -d ' \n')" == 7f454c46 ]] || die "vmlinux is not an ELF"
	rm -f "$work/payload"
}

# Fills directory ROOT with the initramfs tree; modules come from the extracted package KTREE.
stage_initramfs() {
	local root=$1 ktree=$2 release=$3 mod found applet
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,lib/modules}
	install -m 0755 "$BUSYBOX" "$root/bin/busybox"
	for applet in "${APPLETS[@]}"; do
		"$BUSYBOX" --list | grep -qx -- "$applet" || die "$BUSYBOX lacks the $applet applet"
	done
	# One symlink per applet, at the path busybox itself names (bin/ls, usr/sbin/chroot...).
	while read -r applet; do
		[[ -n "$applet" && "$applet" != bin/busybox ]] || continue
		[[ -e "$root/$applet" ]] || ln -s /bin/busybox "$root/$applet"
	done < <("$BUSYBOX" --list-full)
	install -m 0755 "$INIT_SRC" "$root/init"
	: >"$root/etc/spry-modules"
	for mod in "${MODULES[@]}"; do
		found=$(find "$ktree/lib/modules/$release/kernel" \
			\( -name "$mod.ko" -o -name "$mod.ko.xz" -o -name "$mod.ko.zst" -o -name "$mod.ko.gz" \) \
			-print -quit)
		if [[ -z "$found" ]]; then
			grep -qE "/$mod\.ko$" "$ktree/lib/modules/$release/modules.builtin" 2>/dev/null ||
				die "module $mod is neither in the package nor built in"
			log "module $mod is built in"
			continue
		fi
		case "$found" in
		*.xz) xz -dc "$found" >"$root/lib/modules/$mod.ko" ;;
		*.zst) zstd -qdc "$found" >"$root/lib/modules/$mod.ko" ;;
		*.gz) gzip -dc "$found" >"$root/lib/modules/$mod.ko" ;;
		*) cp "$found" "$root/lib/modules/$mod.ko" ;;
		esac
		printf '%s\n' "$mod" >>"$root/etc/spry-modules"
	done
	printf '%s\n' "$release" >"$root/etc/spry-kernel"
}

# Writes directory ROOT as a newc cpio archive to DST, reproducibly (sorted, owner root,
# mtime 0) and with a /dev/console node, so neither root nor fakeroot is needed.
write_cpio() {
	python3 - "$1" "$2" <<'PY'
import os, stat, sys
root, dst = sys.argv[1], sys.argv[2]
entries = []
for base, dirs, files in os.walk(root):
    for name in dirs + files:
        path = os.path.join(base, name)
        entries.append((os.path.relpath(path, root), path))
entries.append(("dev/console", None))
entries.sort()
out = open(dst, "wb")
def put(ino, name, mode, data=b"", rdev=(0, 0), nlink=1):
    fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    hdr = b"070701" + b"".join(b"%08x" % f for f in fields) + name.encode() + b"\0"
    out.write(hdr + b"\0" * (-len(hdr) % 4))
    out.write(data + b"\0" * (-len(data) % 4))
for ino, (name, path) in enumerate(entries, start=1):
    if path is None:
        put(ino, name, stat.S_IFCHR | 0o600, rdev=(5, 1))
        continue
    st = os.lstat(path)
    perm = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        put(ino, name, stat.S_IFLNK | 0o777, os.readlink(path).encode())
    elif stat.S_ISDIR(st.st_mode):
        put(ino, name, stat.S_IFDIR | perm, nlink=2)
    elif stat.S_ISREG(st.st_mode):
        put(ino, name, stat.S_IFREG | perm, open(path, "rb").read())
    else:
        sys.exit("unexpected file type: " + path)
put(0, "TRAILER!!!", 0)
PY
}

build() {
	local outdir=$1 deb=$2 stamp=$3 work ktree release vmlinuz
	work=$(mktemp -d "$outdir/.work.XXXXXX")
	# shellcheck disable=SC2064  # expand now: work is local
	trap "rm -rf '$work'" EXIT
	ktree="$work/pkg"
	log "unpacking $(basename "$deb")"
	dpkg-deb -x "$deb" "$ktree"
	vmlinuz=$(find "$ktree/boot" -maxdepth 1 -name 'vmlinuz-*' -print -quit)
	[[ -n "$vmlinuz" ]] || die "no /boot/vmlinuz-* in $deb"
	release=${vmlinuz##*/vmlinuz-}
	[[ -d "$ktree/lib/modules/$release" ]] || die "no /lib/modules/$release in $deb"

	cp "$vmlinuz" "$work/bzImage"
	log "extracting vmlinux"
	extract_vmlinux "$work/bzImage" "$work/vmlinux" "$work"
	log "building the initramfs"
	stage_initramfs "$work/root" "$ktree" "$release"
	write_cpio "$work/root" "$work/initramfs.cpio"
	gzip -9 -n "$work/initramfs.cpio"

	mv -f "$work/bzImage" "$outdir/bzImage"
	mv -f "$work/vmlinux" "$outdir/vmlinux"
	mv -f "$work/initramfs.cpio.gz" "$outdir/initramfs.cpio.gz"
	printf '%s\n' "$stamp" >"$outdir/kernel.txt"
	rm -rf "$work"
	trap - EXIT
}

main() {
	local outdir=${1:-./guest} cache pkg ver deb stamp name
	[[ $# -le 1 ]] || die "usage: $0 [OUTDIR]"
	mkdir -p "$outdir"
	outdir=$(cd "$outdir" && pwd)
	cache=${SPRY_GUEST_CACHE:-$outdir/cache}
	mkdir -p "$cache"
	cache=$(cd "$cache" && pwd)
	for name in apt-get apt-cache dpkg-deb python3 gzip flock "$BUSYBOX"; do
		command -v "$name" >/dev/null || die "$name is missing (run scripts/setup.sh)"
	done
	[[ -f "$INIT_SRC" ]] || die "missing $INIT_SRC"

	# Parallel test runs may all build the guest at once: one builds, the others wait.
	exec 9>"$outdir/.lock"
	flock 9

	if read -r pkg ver < <(resolve_kernel_package); then
		deb=$(fetch_deb "$cache" "$pkg" "$ver")
	else
		name=$(newest_cached_deb "$cache")
		[[ -n "$name" ]] || die "cannot resolve $META_PKG (no package lists: apt-get update) and no cached kernel"
		log "no package lists; using the cached $name"
		deb="$cache/$name"
		pkg=${name%%_*}
		ver=${name#*_}
		ver=${ver%_*}
		ver=${ver//%3a/:}
	fi
	stamp="$pkg $ver"
	if up_to_date "$outdir" "$stamp" "$deb" "$BUSYBOX" "$INIT_SRC" "${BASH_SOURCE[0]}"; then
		log "$outdir is up to date ($stamp)"
		return 0
	fi
	build "$outdir" "$deb" "$stamp"
	log "built $outdir ($stamp):"
	(cd "$outdir" && ls -l bzImage vmlinux initramfs.cpio.gz >&2)
}

main "$@"
