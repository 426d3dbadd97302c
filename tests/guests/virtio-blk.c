/*
 * virtio-blk through the guest library's polling driver, on a disk whose
 * sector N starts with "SPRY SECTOR N\n" (the test makes it). Command line:
 * mode=rw|ro|durable, sectors=N (expected capacity), serial=ID (expected
 * GET_ID), k=N (durable mode: sectors to write before the flush).
 *   rw: reads (single, multi-descriptor, indirect), GET_ID, the bounds, an
 *       unknown request type, writes with FLUSH, DISCARD and WRITE_ZEROES.
 *   ro: the same reads; the device must offer RO and fail a write with IOERR.
 *   durable: writes K sectors, FLUSH, prints "flushed K", then writes
 *       unflushed sectors until it is killed.
 */
#include "virtio.h"

#define BLK_T_IN		0
#define BLK_T_OUT		1
#define BLK_T_FLUSH		4
#define BLK_T_GET_ID		8
#define BLK_T_DISCARD		11
#define BLK_T_WRITE_ZEROES	13
#define BLK_T_BOGUS		0x55

#define BLK_S_OK		0
#define BLK_S_IOERR		1
#define BLK_S_UNSUPP		2

#define BLK_F_SEG_MAX		2
#define BLK_F_RO		5
#define BLK_F_BLK_SIZE		6
#define BLK_F_FLUSH		9
#define BLK_F_DISCARD		13
#define BLK_F_WRITE_ZEROES	14

#define CFG_CAPACITY		0
#define CFG_SEG_MAX		12
#define CFG_BLK_SIZE		20

#define SECTOR			512

/* Where rw mode writes, discards and zeroes (the test checks the image). */
#define WRITE_SECTOR		100
#define DISCARD_SECTOR		200
#define ZERO_SECTOR		300
#define NSECT			8
/* Where durable mode writes. */
#define DURABLE_SECTOR		1024

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static struct vdev dev;
static struct vq *vq;
static struct blk_hdr *hdr;
static volatile uint8_t *status;
static uint8_t *buf;		/* NSECT sectors */
static struct vq_desc *table;	/* for the indirect read */
static uint64_t capacity;

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			cprintf("virtio-blk: FAIL: " __VA_ARGS__);	\
			cprintf("\n");					\
			debug_exit(GUEST_FAIL);				\
		}							\
	} while (0)

/*
 * One request: header, the @n data buffers in @data, status. Waits for it
 * and returns the status; @written gets the used length.
 */
static uint8_t request(uint32_t type, uint64_t sector, const struct vbuf *data,
		       unsigned int n, bool indirect, uint32_t *written)
{
	struct vbuf chain[8];
	uint32_t len;
	int head, done;

	hdr->type = type;
	hdr->reserved = 0;
	hdr->sector = sector;
	*status = 0xff;
	chain[0] = (struct vbuf){ hdr, sizeof(*hdr), false };
	for (unsigned int i = 0; i < n; i++)
		chain[1 + i] = data[i];
	chain[1 + n] = (struct vbuf){ status, 1, true };
	head = indirect ? vq_add_indirect(vq, table, chain, n + 2) : vq_add(vq, chain, n + 2);
	CHECK(head >= 0, "no free descriptors");
	vq_kick(vq);
	done = vq_wait(vq, &len);
	CHECK(done == head, "used id %d, expected %d", done, head);
	CHECK(*status != 0xff, "type %u sector %lu: status not written", type, sector);
	if (written)
		*written = len;
	return *status;
}

static uint8_t rw(uint32_t type, uint64_t sector, void *data, uint32_t len)
{
	struct vbuf b = { data, len, type == BLK_T_IN };
	uint32_t written;
	uint8_t s = request(type, sector, &b, 1, false, &written);

	if (s == BLK_S_OK && type == BLK_T_IN)
		CHECK(written == len + 1, "read of %u bytes: used length %u, expected %u",
		      len, written, len + 1);
	return s;
}

static bool starts_with(const uint8_t *p, const char *s)
{
	for (; *s; s++, p++)
		if (*p != (uint8_t)*s)
			return false;
	return true;
}

/* "PREFIX N\n" into @out; returns its length. */
static unsigned int label(char *out, const char *prefix, uint64_t n)
{
	char digits[24];
	unsigned int len = 0, nd = 0;

	while (*prefix)
		out[len++] = *prefix++;
	do {
		digits[nd++] = '0' + n % 10;
		n /= 10;
	} while (n);
	while (nd)
		out[len++] = digits[--nd];
	out[len++] = '\n';
	out[len] = '\0';
	return len;
}

/* The host's content of sector @n: its label, then bytes 'a' + n % 26. */
static void check_original(const uint8_t *p, uint64_t n)
{
	char want[40];

	label(want, "SPRY SECTOR ", n);
	CHECK(starts_with(p, want), "sector %lu does not start with '%s'", n, want);
	CHECK(p[SECTOR - 1] == 'a' + n % 26, "sector %lu: last byte %x", n, p[SECTOR - 1]);
}

/* What the guest writes to sector @n: "PREFIX n\n", then (n + i) & 0xff. */
static void make_pattern(uint8_t *p, const char *prefix, uint64_t n)
{
	unsigned int len = label((char *)p, prefix, n);

	for (unsigned int i = len; i < SECTOR; i++)
		p[i] = (uint8_t)(n + i);
}

static void check_reads(void)
{
	struct vbuf two[2] = { { buf, 3 * SECTOR, true }, { buf + 3 * SECTOR, 5 * SECTOR, true } };
	uint32_t written;
	uint8_t s;

	CHECK(rw(BLK_T_IN, 0, buf, SECTOR) == BLK_S_OK, "read of sector 0");
	check_original(buf, 0);
	CHECK(rw(BLK_T_IN, capacity - 1, buf, SECTOR) == BLK_S_OK, "read of the last sector");
	check_original(buf, capacity - 1);
	CHECK(rw(BLK_T_IN, 16, buf, NSECT * SECTOR) == BLK_S_OK, "read of 8 sectors");
	for (unsigned int i = 0; i < NSECT; i++)
		check_original(buf + i * SECTOR, 16 + i);
	memset(buf, 0, NSECT * SECTOR);
	s = request(BLK_T_IN, 40, two, 2, false, &written);
	CHECK(s == BLK_S_OK && written == NSECT * SECTOR + 1,
	      "read into 2 buffers: status %u, used length %u", s, written);
	for (unsigned int i = 0; i < NSECT; i++)
		check_original(buf + i * SECTOR, 40 + i);
	cprintf("virtio-blk: reads ok\n");

	if (virtio_has(&dev, VIRTIO_F_INDIRECT_DESC)) {
		memset(buf, 0, NSECT * SECTOR);
		s = request(BLK_T_IN, 60, two, 2, true, &written);
		CHECK(s == BLK_S_OK, "indirect read: status %u", s);
		for (unsigned int i = 0; i < NSECT; i++)
			check_original(buf + i * SECTOR, 60 + i);
		cprintf("virtio-blk: indirect read ok\n");
	}

	s = rw(BLK_T_IN, capacity, buf, SECTOR);
	CHECK(s == BLK_S_IOERR, "read at the capacity: status %u, expected IOERR", s);
	s = rw(BLK_T_IN, capacity - 1, buf, 2 * SECTOR);
	CHECK(s == BLK_S_IOERR, "read across the end: status %u, expected IOERR", s);
	s = rw(BLK_T_IN, ~0ULL >> 1, buf, SECTOR);
	CHECK(s == BLK_S_IOERR, "read at sector 2^63-1: status %u, expected IOERR", s);
	cprintf("virtio-blk: out-of-range reads fail ok\n");

	s = request(BLK_T_BOGUS, 0, NULL, 0, false, NULL);
	CHECK(s == BLK_S_UNSUPP, "type %u: status %u, expected UNSUPP", BLK_T_BOGUS, s);
	cprintf("virtio-blk: unknown type unsupported ok\n");
}

static void check_id(void)
{
	char want[24], id[21];
	struct vbuf b = { id, 20, true };
	uint8_t s;

	memset(id, 0, sizeof(id));
	s = request(BLK_T_GET_ID, 0, &b, 1, false, NULL);
	CHECK(s == BLK_S_OK, "GET_ID: status %u", s);
	cprintf("virtio-blk: id '%s'\n", id);
	if (cmdline_str("serial", want, sizeof(want))) {
		CHECK(!strncmp(id, want, 20), "id '%s', expected '%s'", id, want);
		cprintf("virtio-blk: id ok\n");
	}
}

static void flush(void)
{
	uint8_t s;

	if (!virtio_has(&dev, BLK_F_FLUSH))
		return;
	s = request(BLK_T_FLUSH, 0, NULL, 0, false, NULL);
	CHECK(s == BLK_S_OK, "FLUSH: status %u", s);
}

static void check_writes(void)
{
	struct blk_seg seg = { 0, NSECT, 0 };
	struct vbuf b = { &seg, sizeof(seg), false };
	uint8_t s;

	for (unsigned int i = 0; i < NSECT; i++)
		make_pattern(buf + i * SECTOR, "SPRY WRITE ", WRITE_SECTOR + i);
	CHECK(rw(BLK_T_OUT, WRITE_SECTOR, buf, NSECT * SECTOR) == BLK_S_OK, "write");
	flush();
	memset(buf, 0, NSECT * SECTOR);
	CHECK(rw(BLK_T_IN, WRITE_SECTOR, buf, NSECT * SECTOR) == BLK_S_OK, "read back");
	for (unsigned int i = 0; i < NSECT; i++) {
		uint8_t want[SECTOR];

		make_pattern(want, "SPRY WRITE ", WRITE_SECTOR + i);
		for (unsigned int j = 0; j < SECTOR; j++)
			CHECK(buf[i * SECTOR + j] == want[j], "sector %u byte %u reads %x, wrote %x",
			      WRITE_SECTOR + i, j, buf[i * SECTOR + j], want[j]);
	}
	s = rw(BLK_T_OUT, capacity, buf, SECTOR);
	CHECK(s == BLK_S_IOERR, "write at the capacity: status %u, expected IOERR", s);
	cprintf("virtio-blk: write, flush, read back ok\n");

	if (virtio_has(&dev, BLK_F_DISCARD)) {
		seg.sector = DISCARD_SECTOR;
		s = request(BLK_T_DISCARD, 0, &b, 1, false, NULL);
		CHECK(s == BLK_S_OK, "DISCARD: status %u", s);
		cprintf("virtio-blk: discard ok\n");
	}
	if (virtio_has(&dev, BLK_F_WRITE_ZEROES)) {
		seg.sector = ZERO_SECTOR;
		s = request(BLK_T_WRITE_ZEROES, 0, &b, 1, false, NULL);
		CHECK(s == BLK_S_OK, "WRITE_ZEROES: status %u", s);
		memset(buf, 0xee, NSECT * SECTOR);
		CHECK(rw(BLK_T_IN, ZERO_SECTOR, buf, NSECT * SECTOR) == BLK_S_OK, "read zeroes");
		for (unsigned int j = 0; j < NSECT * SECTOR; j++)
			CHECK(!buf[j], "zeroed sector %u byte %u reads %x", ZERO_SECTOR + j / SECTOR,
			      j % SECTOR, buf[j]);
		seg.sector = capacity - 1;
		s = request(BLK_T_WRITE_ZEROES, 0, &b, 1, false, NULL);
		CHECK(s == BLK_S_IOERR, "WRITE_ZEROES across the end: status %u, expected IOERR",
		      s);
		cprintf("virtio-blk: write zeroes ok\n");
	}
	flush();
}

static void check_readonly(void)
{
	uint8_t s;

	CHECK(virtio_has(&dev, BLK_F_RO), "a readonly disk does not offer VIRTIO_BLK_F_RO");
	make_pattern(buf, "SPRY WRITE ", WRITE_SECTOR);
	s = rw(BLK_T_OUT, WRITE_SECTOR, buf, SECTOR);
	CHECK(s == BLK_S_IOERR, "write to a readonly disk: status %u, expected IOERR", s);
	CHECK(rw(BLK_T_IN, WRITE_SECTOR, buf, SECTOR) == BLK_S_OK, "read after the write");
	check_original(buf, WRITE_SECTOR);
	cprintf("virtio-blk: readonly write fails ok\n");
}

static __attribute__((noreturn)) void durable(void)
{
	uint64_t k = 64, n;

	cmdline_u64("k", &k);
	CHECK(DURABLE_SECTOR + 2 * k <= capacity, "k=%lu does not fit the disk", k);
	for (n = 0; n < k; n++) {
		make_pattern(buf, "SPRY DURABLE ", DURABLE_SECTOR + n);
		CHECK(rw(BLK_T_OUT, DURABLE_SECTOR + n, buf, SECTOR) == BLK_S_OK, "write %lu", n);
	}
	flush();
	cprintf("flushed %lu\n", k);
	/* Unflushed writes after the durable ones, until we are killed. */
	for (n = 0;; n++) {
		uint64_t sector = DURABLE_SECTOR + k + n % (capacity - DURABLE_SECTOR - k);

		make_pattern(buf, "SPRY UNFLUSHED ", sector);
		CHECK(rw(BLK_T_OUT, sector, buf, SECTOR) == BLK_S_OK, "unflushed write %lu", n);
	}
}

int main(void)
{
	char mode[16] = "rw";
	uint64_t want;

	cmdline_str("mode", mode, sizeof(mode));
	CHECK(!virtio_find(&dev, VIRTIO_ID_BLOCK, 0), "no virtio-blk device");
	CHECK(!virtio_init(&dev, VIRTIO_F(VIRTIO_F_INDIRECT_DESC) | VIRTIO_F(BLK_F_SEG_MAX) |
			   VIRTIO_F(BLK_F_RO) | VIRTIO_F(BLK_F_BLK_SIZE) |
			   VIRTIO_F(BLK_F_FLUSH) | VIRTIO_F(BLK_F_DISCARD) |
			   VIRTIO_F(BLK_F_WRITE_ZEROES)), "feature negotiation");
	CHECK(!virtio_queue_setup(&dev, 0, 16), "queue set-up");
	CHECK(!virtio_driver_ok(&dev), "DRIVER_OK");
	vq = &dev.vq[0];
	hdr = virtio_alloc(sizeof(*hdr), 16);
	status = virtio_alloc(1, 1);
	buf = virtio_alloc(NSECT * SECTOR, 4096);
	table = virtio_alloc(16 * sizeof(*table), 16);

	capacity = virtio_cfg64(&dev, CFG_CAPACITY);
	cprintf("virtio-blk: capacity %lu sectors, mode %s\n", capacity, mode);
	if (virtio_has(&dev, BLK_F_BLK_SIZE))
		cprintf("virtio-blk: blk_size %u\n", virtio_cfg32(&dev, CFG_BLK_SIZE));
	if (virtio_has(&dev, BLK_F_SEG_MAX))
		cprintf("virtio-blk: seg_max %u\n", virtio_cfg32(&dev, CFG_SEG_MAX));
	if (cmdline_u64("sectors", &want))
		CHECK(capacity == want, "capacity %lu, expected %lu", capacity, want);
	CHECK(capacity > DURABLE_SECTOR + 2 * NSECT, "the disk is too small for this test");

	if (!strncmp(mode, "durable", 8))
		durable();

	check_reads();
	/* Interrupts are on (no suppression): the completions must have raised one. */
	CHECK(virtio_wait_isr(&dev, 1) & 1, "InterruptStatus never showed a used buffer");
	check_id();
	if (!strncmp(mode, "ro", 3))
		check_readonly();
	else
		check_writes();
	cprintf("virtio-blk: %lu notifications\n", vq->notifies);
	cprintf("virtio-blk: %s ok\n", mode);
	return GUEST_PASS;
}
