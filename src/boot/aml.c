/*
 * AML encoder: see aml.h. Opcodes and encodings are from the ACPI 6.5
 * specification, section 20.2 (AML grammar) and 6.4 (resource data types).
 */
#include <string.h>

#include "aml.h"

#define AML_ZERO_OP		0x00
#define AML_ONE_OP		0x01
#define AML_NAME_OP		0x08
#define AML_BYTE_PREFIX		0x0a
#define AML_WORD_PREFIX		0x0b
#define AML_DWORD_PREFIX	0x0c
#define AML_STRING_PREFIX	0x0d
#define AML_QWORD_PREFIX	0x0e
#define AML_SCOPE_OP		0x10
#define AML_BUFFER_OP		0x11
#define AML_PACKAGE_OP		0x12
#define AML_DUAL_NAME_PREFIX	0x2e
#define AML_MULTI_NAME_PREFIX	0x2f
#define AML_EXT_OP_PREFIX	0x5b
#define AML_DEVICE_OP		0x82	/* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR		'\\'
#define AML_NAMESEG_LEN		4

/* Large resource items: tag byte, 16-bit length of what follows the 3-byte header. */
#define RES_MEM32_FIXED		0x86
#define RES_EXT_IRQ		0x89
#define RES_MEM32_FIXED_LEN	9	/* info byte, base, length */
#define RES_EXT_IRQ_LEN(n)	(2 + 4 * (n))	/* flags, count, n GSIs */
#define RES_MEM_WRITABLE	(1u << 0)
/* Small resource items: tag byte = item name << 3 | length of what follows it. */
#define RES_IO			0x47	/* 0x8 << 3 | 7: info, min, max, align, length */
#define RES_IO_DECODE16		(1u << 0)	/* else 10 address bits are decoded */
#define RES_END_TAG		0x79	/* 0xf << 3 | 1: the checksum byte */

#define EISAID_LEN		7	/* "UUUXXXX" */

/*
 * PkgLength (20.2.4): one byte holds lengths up to 63 in bits 5:0. Longer ones
 * put the count of following bytes (1-3) in bits 7:6 of the lead byte, the
 * length's low 4 bits in its bits 3:0, and 8 more bits in each following byte.
 */
unsigned int aml_pkglen(size_t body, uint8_t out[4])
{
	size_t len;

	if (body + 1 <= 0x3f) {
		out[0] = (uint8_t)(body + 1);
		return 1;
	}
	for (unsigned int n = 2; n <= 4; n++) {
		len = body + n;
		if (len >> (4 + 8 * (n - 1)))
			continue;
		out[0] = (uint8_t)((n - 1) << 6 | (len & 0xf));
		for (unsigned int i = 1; i < n; i++)
			out[i] = (uint8_t)(len >> (4 + 8 * (i - 1)));
		return n;
	}
	return 0;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->error || n > a->cap - a->len) {
		a->error = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void le(struct aml *a, uint64_t v, unsigned int size)
{
	for (unsigned int i = 0; i < size; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

void aml_namestring(struct aml *a, const char *path)
{
	const char *p = path;
	unsigned int nsegs = 0;

	if (*p == AML_ROOT_CHAR) {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	}
	for (const char *s = p; *s; s++)
		nsegs += s == p || s[-1] == '.';
	if (nsegs == 0) {
		aml_byte(a, AML_ZERO_OP);	/* NullName */
		return;
	}
	if (nsegs == 2) {
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nsegs);
	}
	while (*p) {
		size_t n = strcspn(p, ".");
		char seg[AML_NAMESEG_LEN] = { '_', '_', '_', '_' };

		/* Lead character: 'A'-'Z' or '_'; the others may also be digits. */
		if (n == 0 || n > AML_NAMESEG_LEN || nsegs > 255 || (*p >= '0' && *p <= '9')) {
			a->error = true;
			return;
		}
		for (size_t i = 0; i < n; i++) {
			if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
			      p[i] == '_')) {
				a->error = true;
				return;
			}
		}
		memcpy(seg, p, n);
		aml_bytes(a, seg, sizeof(seg));
		p += n;
		if (*p == '.' && !*++p)
			a->error = true;	/* trailing '.' */
	}
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, AML_ONE_OP);
	} else if (v <= UINT8_MAX) {
		aml_byte(a, AML_BYTE_PREFIX);
		le(a, v, 1);
	} else if (v <= UINT16_MAX) {
		aml_byte(a, AML_WORD_PREFIX);
		le(a, v, 2);
	} else if (v <= UINT32_MAX) {
		aml_byte(a, AML_DWORD_PREFIX);
		le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		le(a, v, 8);
	}
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t be = 0;	/* the 4 bytes read big-endian; bit 31 is reserved, 0 */

	if (strlen(id) != EISAID_LEN) {
		a->error = true;
		return;
	}
	for (unsigned int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			a->error = true;
			return;
		}
		be = be << 5 | (uint32_t)(id[i] - 'A' + 1);
	}
	for (unsigned int i = 3; i < EISAID_LEN; i++) {
		int d = hex_digit(id[i]);

		if (d < 0) {
			a->error = true;
			return;
		}
		be = be << 4 | (uint32_t)d;
	}
	aml_integer(a, __builtin_bswap32(be));
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_namestring(a, name);
}

/* The mark is where the body starts; aml_close() puts the PkgLength there. */
size_t aml_scope(struct aml *a, const char *path)
{
	size_t mark;

	aml_byte(a, AML_SCOPE_OP);
	mark = a->len;
	aml_namestring(a, path);
	return mark;
}

size_t aml_device(struct aml *a, const char *path)
{
	size_t mark;

	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	mark = a->len;
	aml_namestring(a, path);
	return mark;
}

size_t aml_package(struct aml *a, uint8_t nelems)
{
	size_t mark;

	aml_byte(a, AML_PACKAGE_OP);
	mark = a->len;
	aml_byte(a, nelems);
	return mark;
}

void aml_close(struct aml *a, size_t mark)
{
	uint8_t pkg[4];
	unsigned int n;

	if (a->error)
		return;
	n = aml_pkglen(a->len - mark, pkg);
	if (n == 0 || n > a->cap - a->len) {
		a->error = true;
		return;
	}
	memmove(a->buf + mark + n, a->buf + mark, a->len - mark);
	memcpy(a->buf + mark, pkg, n);
	a->len += n;
}

void aml_buffer(struct aml *a, const void *data, size_t n)
{
	size_t mark;

	aml_byte(a, AML_BUFFER_OP);
	mark = a->len;
	aml_integer(a, n);
	aml_bytes(a, data, n);
	aml_close(a, mark);
}

void aml_res_io(struct aml *r, bool decode16, uint16_t min, uint16_t max, uint8_t align,
		uint8_t len)
{
	aml_byte(r, RES_IO);
	aml_byte(r, decode16 ? RES_IO_DECODE16 : 0);
	le(r, min, 2);
	le(r, max, 2);
	aml_byte(r, align);
	aml_byte(r, len);
}

void aml_res_mem32_fixed(struct aml *r, bool writable, uint32_t base, uint32_t size)
{
	aml_byte(r, RES_MEM32_FIXED);
	le(r, RES_MEM32_FIXED_LEN, 2);
	aml_byte(r, writable ? RES_MEM_WRITABLE : 0);
	le(r, base, 4);
	le(r, size, 4);
}

void aml_res_ext_irq(struct aml *r, uint8_t flags, uint32_t gsi)
{
	aml_byte(r, RES_EXT_IRQ);
	le(r, RES_EXT_IRQ_LEN(1), 2);
	aml_byte(r, flags);
	aml_byte(r, 1);
	le(r, gsi, 4);
}

void aml_res_end(struct aml *r)
{
	aml_byte(r, RES_END_TAG);
	aml_byte(r, 0);
}
