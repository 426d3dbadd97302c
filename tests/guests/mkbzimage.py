#!/usr/bin/env python3
# Wraps a payload ELF (loaded at 1 MiB) as a minimal Linux bzImage: a boot
# sector and one setup sector holding the boot protocol 2.15 header, then
# the flat image whose 64-bit entry sits at +0x200. Usage: IN.elf OUT.
import struct
import sys

LOAD_ADDR = 0x100000
SETUP_SECTS = 1
PT_LOAD = 1


def flat_image(elf):
    if elf[:4] != b'\x7fELF' or elf[4] != 2:
        sys.exit('mkbzimage: not an ELF64 file')
    phoff, = struct.unpack_from('<Q', elf, 0x20)
    phentsize, phnum = struct.unpack_from('<HH', elf, 0x36)
    image = bytearray()
    end = LOAD_ADDR
    for i in range(phnum):
        ptype, _, off, _, paddr, filesz, memsz, _ = struct.unpack_from(
            '<IIQQQQQQ', elf, phoff + i * phentsize)
        if ptype != PT_LOAD or not memsz:
            continue
        if paddr < LOAD_ADDR:
            sys.exit('mkbzimage: segment below 1 MiB')
        start = paddr - LOAD_ADDR
        if len(image) < start + filesz:
            image.extend(bytes(start + filesz - len(image)))
        image[start:start + filesz] = elf[off:off + filesz]
        end = max(end, paddr + memsz)
    image.extend(bytes(-len(image) % 16))	# syssize counts 16-byte units
    return bytes(image), end - LOAD_ADDR


def setup_header(image_len, init_size):
    setup = bytearray((SETUP_SECTS + 1) * 512)

    def put(fmt, off, *val):
        struct.pack_into('<' + fmt, setup, off, *val)

    put('B', 0x1f1, SETUP_SECTS)
    put('I', 0x1f4, image_len // 16)		# syssize
    put('H', 0x1fe, 0xaa55)			# boot_flag
    put('BB', 0x200, 0xeb, 0x26c - 0x202)	# jump to a hlt loop:
    put('BBB', 0x26c, 0xf4, 0xeb, 0xfd)		# no real-mode code here
    put('4s', 0x202, b'HdrS')
    put('H', 0x206, 0x020f)			# version 2.15
    put('B', 0x211, 0x01)			# loadflags: LOADED_HIGH
    put('I', 0x214, LOAD_ADDR)			# code32_start
    put('I', 0x22c, 0x7fffffff)			# initrd_addr_max
    put('I', 0x230, 0x1000)			# kernel_alignment
    put('B', 0x235, 12)				# min_alignment
    put('H', 0x236, 0x0001)			# xloadflags: XLF_KERNEL_64
    put('I', 0x238, 2047)			# cmdline_size
    put('Q', 0x258, LOAD_ADDR)			# pref_address
    put('I', 0x260, (init_size + 4095) & ~4095)	# init_size
    return bytes(setup)


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: mkbzimage.py IN.elf OUT')
    with open(sys.argv[1], 'rb') as f:
        image, init_size = flat_image(f.read())
    with open(sys.argv[2], 'wb') as f:
        f.write(setup_header(len(image), init_size))
        f.write(image)


main()
