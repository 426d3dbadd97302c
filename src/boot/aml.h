/*
 * A small ACPI Machine Language encoder (ACPI 6.5, chapter 20 "AML
 * Specification") and resource descriptor writers (chapter 6.4), enough for
 * the DSDT spry writes: names, scopes, devices, packages, strings, integers,
 * EISA ids and resource template buffers.
 *
 * Everything appends to a caller-supplied buffer. A write that would not fit,
 * or a malformed name, sets @error and is dropped, so a table is built without
 * checks at every step and the caller tests @error once at the end.
 *
 * Objects with a PkgLength (Scope, Device, Package, Buffer) are opened by a
 * function returning a mark and finished by aml_close(), which measures the
 * body and inserts the PkgLength in front of it; they nest.
 */
#ifndef SPRY_BOOT_AML_H
#define SPRY_BOOT_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_PKGLEN_MAX		((1u << 28) - 1)	/* 4 bytes: 4 + 3 * 8 bits */

struct aml {
	uint8_t *buf;
	size_t len;
	size_t cap;
	bool error;
};

static inline struct aml aml_init(uint8_t *buf, size_t cap)
{
	return (struct aml){ .buf = buf, .cap = cap };
}

/*
 * Encode the PkgLength of an object whose body after the PkgLength is @body
 * bytes (the encoded value counts the PkgLength bytes themselves). Returns the
 * number of bytes written to @out (1 to 4), or 0 if it cannot be encoded.
 */
unsigned int aml_pkglen(size_t body, uint8_t out[4]);

void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t b);

/*
 * NameString: an optional leading '\' (root), then 4-character NameSegs
 * separated by '.', e.g. "_S5_", "\\_SB_", "\\_SB_.VR00". Shorter segments
 * are padded with '_' as ASL does.
 */
void aml_namestring(struct aml *a, const char *path);

/* Integer data: ZeroOp, OneOp, or the smallest of Byte/Word/DWord/QWord. */
void aml_integer(struct aml *a, uint64_t v);
/*
 * EisaId ("UUUXXXX") as ASL compiles it (ACPI 6.5, 19.6.35): 3 uppercase letters
 * of 5 bits each ('A' = 1) and 4 hex digits (either case, as iasl takes them),
 * packed big-endian into 32 bits (letters in the first 2 bytes, digits in the
 * last 2) and stored as a little-endian integer of the smallest size, as iasl
 * does: EisaId ("PNP0501") is DWordConst 0x0105D041, bytes 0C 41 D0 05 01.
 * Anything else sets @error.
 */
void aml_eisaid(struct aml *a, const char *id);
/* String: StringPrefix, the ASCII characters, NUL. */
void aml_string(struct aml *a, const char *s);
/* Name (@name, ...): NameOp and NameString; the caller appends the object. */
void aml_name(struct aml *a, const char *name);

/* Open a Scope, Device or Package; finish each with aml_close(). */
size_t aml_scope(struct aml *a, const char *path);
size_t aml_device(struct aml *a, const char *path);
size_t aml_package(struct aml *a, uint8_t nelems);
void aml_close(struct aml *a, size_t mark);

/* Buffer (@n) { @data }: BufferOp, PkgLength, BufferSize as an integer, bytes. */
void aml_buffer(struct aml *a, const void *data, size_t n);

/* Resource descriptors, appended to a resource template being built in @r. */
#define AML_IRQ_CONSUMER	(1u << 0)	/* else producer */
#define AML_IRQ_EDGE		(1u << 1)	/* else level */
#define AML_IRQ_ACTIVE_LOW	(1u << 2)	/* else active high */
#define AML_IRQ_SHARED		(1u << 3)	/* else exclusive */

/* IO (Decode16 or Decode10, @min, @max, @align, @len): small item, 8 bytes (6.4.2.5). */
void aml_res_io(struct aml *r, bool decode16, uint16_t min, uint16_t max, uint8_t align,
		uint8_t len);
void aml_res_mem32_fixed(struct aml *r, bool writable, uint32_t base, uint32_t size);
void aml_res_ext_irq(struct aml *r, uint8_t flags, uint32_t gsi);
/* End Tag; its checksum byte is 0, which the spec says always passes. */
void aml_res_end(struct aml *r);

#endif
