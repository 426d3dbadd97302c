/*
 * virtio-blk driven as a guest driver would drive it: MMIO register writes
 * through the virtio-mmio transport, rings and buffers in real guest memory,
 * a real image file in /tmp (or /dev/shm), and the I/O loop on its thread.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "spry/virtio_devices.h"
#include "virtio_test_util.h"

#define BASE		VT_BASE
#define QSIZE		256
#define MEM_SIZE	(16ULL << 20)
#define DESC_GPA	0x10000ULL
#define AVAIL_GPA	0x20000ULL
#define USED_GPA	0x30000ULL
#define HDR_GPA		0x40000ULL	/* per slot 64 bytes: header +0, status +32, segment +48 */
#define IND_GPA		0x50000ULL	/* per slot an indirect table of 4 descriptors */
#define DATA_GPA	0x100000ULL	/* per slot 8 KiB */
#define BIG_GPA		0x800000ULL	/* 1 MiB for large requests */
#define SLOT_DATA	8192
#define IMG_SECTORS	4096ULL		/* a 2 MiB image */
#define IMG_SIZE	(IMG_SECTORS * 512)

enum { REG_STATUS = 0x070, REG_NOTIFY = 0x050, REG_CONFIG = 0x100 };

struct opts {
	bool readonly;
	enum disk_cache cache;
	const char *dir;
};

static const struct opts plain = { .dir = "/tmp" };
static const struct opts readonly = { .readonly = true, .dir = "/tmp" };
static const struct opts direct = { .cache = DISK_CACHE_NONE, .dir = "/tmp" };
static const struct opts shm = { .dir = "/dev/shm" };

static struct rlimit initial_fsize;	/* restored after each test, even a failed one */

struct fixture {
	struct opts opts;
	struct vm vm;
	struct virtio_dev *dev;
	char path[64];
	int img;		/* our own view of the image */
	uint64_t features;	/* what the device offers */
	/* The driver's side of the queue. */
	uint16_t next_desc, avail_idx, seen_used;
	uint32_t last_len;	/* used length of the last finished request */
};

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off >> 9) * 31 + (off & 511) * 3 + 1);
}

/* ---- fixture ---- */

static int make_image(struct fixture *f)
{
	uint8_t *buf = malloc(IMG_SIZE);

	snprintf(f->path, sizeof(f->path), "%s/spry-blk-XXXXXX", f->opts.dir);
	f->img = mkstemp(f->path);
	if (f->img < 0 || !buf) {
		free(buf);
		return -1;
	}
	for (uint64_t i = 0; i < IMG_SIZE; i++)
		buf[i] = pattern(i);
	if (pwrite(f->img, buf, IMG_SIZE, 0) != (ssize_t)IMG_SIZE) {
		free(buf);
		return -1;
	}
	free(buf);
	return 0;
}

static int setup(void **state)
{
	const struct opts *o = *state ? *state : &plain;
	struct fixture *f = calloc(1, sizeof(*f));
	struct disk_config cfg = { 0 };

	if (access(o->dir, W_OK)) {
		free(f);
		return -1;
	}
	f->opts = *o;
	assert_int_equal(make_image(f), 0);
	vt_vm_init(&f->vm, MEM_SIZE);
	snprintf(cfg.path, sizeof(cfg.path), "%s", f->path);
	cfg.readonly = o->readonly;
	cfg.cache = o->cache;
	strcpy(cfg.serial, "spry-serial-42");
	f->dev = virtio_blk_create(&f->vm, f->vm.io, 0, &cfg);
	assert_non_null(f->dev);
	assert_int_equal(io_loop_start(f->vm.io), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	setrlimit(RLIMIT_FSIZE, &initial_fsize);
	vt_vm_destroy(&f->vm);
	close(f->img);
	unlink(f->path);
	free(f);
	return 0;
}

/* ---- the driver ---- */

static uint32_t rd(struct fixture *f, uint64_t off) { return vt_rd(&f->vm, off); }
static void wr(struct fixture *f, uint64_t off, uint32_t v) { vt_wr(&f->vm, off, v); }
static void *gpa(struct fixture *f, uint64_t a, uint64_t n) { return vt_gpa(&f->vm, a, n); }

/* Reset, negotiate everything offered but @refuse, set up the queue, DRIVER_OK. */
static void driver_init_refusing(struct fixture *f, uint64_t refuse)
{
	vt_reset_and_ack(&f->vm);
	memset(gpa(f, DESC_GPA, 0x30000), 0, 0x30000);	/* the rings */
	f->next_desc = f->avail_idx = f->seen_used = 0;
	f->features = vt_device_features(&f->vm);
	vt_write_features(&f->vm, f->features & ~refuse);
	assert_true(rd(f, REG_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	vt_setup_queue(&f->vm, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_int_equal(rd(f, VT_QUEUE_NUM_MAX), QSIZE);
	assert_int_equal(rd(f, VT_QUEUE_READY), 1);
	vt_driver_ok(&f->vm);
	assert_true(rd(f, REG_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

static void driver_init(struct fixture *f)
{
	driver_init_refusing(f, 0);
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* Make a chain of @n segments available (in an indirect table when @indirect); its head. */
static uint16_t add_chain(struct fixture *f, const struct seg *s, unsigned int n, bool indirect)
{
	struct virtq_desc *ring = gpa(f, DESC_GPA, QSIZE * sizeof(*ring));
	uint16_t head = f->next_desc;

	if (indirect) {
		struct virtq_desc *t = gpa(f, IND_GPA + head * 64ULL, 64);

		assert_true(n <= 4);
		for (unsigned int i = 0; i < n; i++)
			t[i] = (struct virtq_desc){ s[i].gpa, s[i].len,
				(uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					   (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
				(uint16_t)(i + 1) };
		ring[head] = (struct virtq_desc){ IND_GPA + head * 64ULL, n * 16,
						  VIRTQ_DESC_F_INDIRECT, 0 };
		f->next_desc = (uint16_t)((head + 1) % QSIZE);
	} else {
		for (unsigned int i = 0; i < n; i++) {
			uint16_t d = (uint16_t)((head + i) % QSIZE);

			ring[d] = (struct virtq_desc){ s[i].gpa, s[i].len,
				(uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					   (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
				(uint16_t)((d + 1) % QSIZE) };
		}
		f->next_desc = (uint16_t)((head + n) % QSIZE);
	}
	vt_avail_put(&f->vm, AVAIL_GPA, QSIZE, f->avail_idx++, head);
	return head;
}

static uint16_t used_idx(struct fixture *f) { return vt_used_idx(&f->vm, USED_GPA); }

static struct virtq_used_elem *used_elem(struct fixture *f, uint16_t i)
{
	return gpa(f, USED_GPA + 4 + 8ULL * (i % QSIZE), 8);
}

/* Wait (bounded) until the device has used @n more chains than seen so far. */
static void wait_used(struct fixture *f, unsigned int n)
{
	uint16_t want = (uint16_t)(f->seen_used + n);

	vt_eventually(used_idx(f) == want, 10000);
	assert_int_equal(used_idx(f), want);
}

static uint64_t hdr_gpa(unsigned int k) { return HDR_GPA + 64ULL * k; }
static uint64_t status_gpa(unsigned int k) { return HDR_GPA + 64ULL * k + 32; }
static uint64_t seg_gpa(unsigned int k) { return HDR_GPA + 64ULL * k + 48; }
static uint64_t data_gpa(unsigned int k) { return DATA_GPA + (uint64_t)SLOT_DATA * k; }

static void put_hdr(struct fixture *f, unsigned int k, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = htole32(type), .sector = htole64(sector) };

	memcpy(gpa(f, hdr_gpa(k), sizeof(h)), &h, sizeof(h));
	*(uint8_t *)gpa(f, status_gpa(k), 1) = 0xee;
}

static uint8_t status_of(struct fixture *f, unsigned int k)
{
	return *(uint8_t *)gpa(f, status_gpa(k), 1);
}

/* Submit one chain, kick, wait for it; its status byte (at slot @k's status). */
static uint8_t run_chain(struct fixture *f, unsigned int k, const struct seg *s, unsigned int n)
{
	uint16_t head = add_chain(f, s, n, false);
	struct virtq_used_elem *e;

	wr(f, REG_NOTIFY, 0);
	wait_used(f, 1);
	e = used_elem(f, f->seen_used);
	assert_int_equal(e->id, head);
	f->last_len = e->len;
	f->seen_used++;
	return status_of(f, k);
}

/* header, @len bytes at @data (writable for IN), status: the usual three-descriptor request. */
static uint8_t rw(struct fixture *f, uint32_t type, uint64_t sector, uint64_t data, uint32_t len)
{
	struct seg s[3] = {
		{ hdr_gpa(0), 16, false },
		{ data, len, type != VIRTIO_BLK_T_OUT },
		{ status_gpa(0), 1, true },
	};

	put_hdr(f, 0, type, sector);
	if (len == 0) {
		s[1] = s[2];
		return run_chain(f, 0, s, 2);
	}
	return run_chain(f, 0, s, 3);
}

static uint8_t discard_like(struct fixture *f, uint32_t type, uint64_t sector, uint32_t num,
			    uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes d = {
		.sector = htole64(sector), .num_sectors = htole32(num), .flags = htole32(flags),
	};
	struct seg s[3] = {
		{ hdr_gpa(0), 16, false }, { seg_gpa(0), 16, false }, { status_gpa(0), 1, true },
	};

	put_hdr(f, 0, type, 0);
	memcpy(gpa(f, seg_gpa(0), sizeof(d)), &d, sizeof(d));
	return run_chain(f, 0, s, 3);
}

/* ---- checks on data ---- */

static void fill(struct fixture *f, uint64_t addr, uint32_t len, uint8_t seed)
{
	uint8_t *p = gpa(f, addr, len);

	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static void assert_filled(const uint8_t *p, uint32_t len, uint8_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seed + i * 7 + (i >> 8)))
			fail_msg("byte %u is %#x, not %#x", i, p[i],
				 (uint8_t)(seed + i * 7 + (i >> 8)));
}

static void assert_pattern(const uint8_t *p, uint64_t off, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != pattern(off + i))
			fail_msg("byte %u (file offset %llu) is %#x, not %#x", i,
				 (unsigned long long)(off + i), p[i], pattern(off + i));
}

/* The image file itself, read on our own descriptor. */
static uint8_t *file_bytes(struct fixture *f, uint64_t off, uint32_t len)
{
	static uint8_t buf[1 << 20];

	assert_true(len <= sizeof(buf));
	assert_int_equal(pread(f->img, buf, len, (off_t)off), (ssize_t)len);
	return buf;
}

static void assert_zero(const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i])
			fail_msg("byte %u is %#x, not 0", i, p[i]);
}

static uint32_t config32(struct fixture *f, uint32_t off)
{
	uint32_t v;

	assert_true(bus_read(&f->vm.mmio, BASE + REG_CONFIG + off, &v, 4));
	return le32toh(v);
}

/* ---- tests ---- */

static void identity_features_and_config(void **state)
{
	struct fixture *f = *state;
	uint64_t cap;

	assert_int_equal(rd(f, 0x008), VIRTIO_ID_BLOCK);
	driver_init(f);
	assert_true(f->features & (1ULL << VIRTIO_BLK_F_SEG_MAX));
	assert_true(f->features & (1ULL << VIRTIO_BLK_F_BLK_SIZE));
	assert_true(f->features & (1ULL << VIRTIO_BLK_F_FLUSH));
	assert_true(f->features & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_true(f->features & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_false(f->features & (1ULL << VIRTIO_BLK_F_RO));
	assert_true(f->features & (1ULL << VIRTIO_F_VERSION_1));
	cap = config32(f, offsetof(struct virtio_blk_config, capacity)) |
	      (uint64_t)config32(f, offsetof(struct virtio_blk_config, capacity) + 4) << 32;
	assert_int_equal(cap, IMG_SECTORS);
	assert_int_equal(config32(f, offsetof(struct virtio_blk_config, seg_max)), QSIZE - 2);
	assert_int_equal(config32(f, offsetof(struct virtio_blk_config, blk_size)), 512);
	assert_int_equal(config32(f, offsetof(struct virtio_blk_config, max_discard_seg)), 1);
	assert_int_equal(config32(f, offsetof(struct virtio_blk_config,
					      discard_sector_alignment)), 8);
	assert_true(config32(f, offsetof(struct virtio_blk_config, max_discard_sectors)) >= 8);
	assert_true(config32(f, offsetof(struct virtio_blk_config,
					 max_write_zeroes_sectors)) >= 8);
	assert_int_equal(config32(f, offsetof(struct virtio_blk_config, max_write_zeroes_seg)),
			 1);
	assert_int_equal(config32(f, offsetof(struct virtio_blk_config,
					      write_zeroes_may_unmap)) & 0xff, 1);
}

static void read_sectors(void **state)
{
	struct fixture *f = *state;

	driver_init(f);
	memset(gpa(f, data_gpa(0), 1024), 0, 1024);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 3, data_gpa(0), 1024), VIRTIO_BLK_S_OK);
	assert_int_equal(f->last_len, 1025);
	assert_pattern(gpa(f, data_gpa(0), 1024), 3 * 512, 1024);
	/* The last sector of the disk. */
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, data_gpa(0), 512),
			 VIRTIO_BLK_S_OK);
	assert_pattern(gpa(f, data_gpa(0), 512), IMG_SIZE - 512, 512);
	assert_true(atomic_load(&vt_irq_pulses) >= 1);
}

static void write_then_read_back(void **state)
{
	struct fixture *f = *state;

	driver_init(f);
	fill(f, data_gpa(1), 2048, 0x40);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 10, data_gpa(1), 2048), VIRTIO_BLK_S_OK);
	assert_int_equal(f->last_len, 1);
	assert_filled(file_bytes(f, 10 * 512, 2048), 2048, 0x40);
	assert_pattern(file_bytes(f, 9 * 512, 512), 9 * 512, 512);	/* neighbours intact */
	assert_pattern(file_bytes(f, 14 * 512, 512), 14 * 512, 512);
	memset(gpa(f, data_gpa(2), 2048), 0, 2048);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 10, data_gpa(2), 2048), VIRTIO_BLK_S_OK);
	assert_filled(gpa(f, data_gpa(2), 2048), 2048, 0x40);
}

static void flush_succeeds(void **state)
{
	struct fixture *f = *state;

	driver_init(f);
	fill(f, data_gpa(0), 512, 1);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 0, data_gpa(0), 512), VIRTIO_BLK_S_OK);
	assert_int_equal(rw(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(f->last_len, 1);
}

static void get_id_returns_serial(void **state)
{
	struct fixture *f = *state;
	uint8_t want[20] = "spry-serial-42";

	driver_init(f);
	memset(gpa(f, data_gpa(0), 32), 0xaa, 32);
	assert_int_equal(rw(f, VIRTIO_BLK_T_GET_ID, 0, data_gpa(0), 20), VIRTIO_BLK_S_OK);
	assert_memory_equal(gpa(f, data_gpa(0), 20), want, 20);	/* zero padded */
	assert_int_equal(f->last_len, 21);
	assert_int_equal(*(uint8_t *)gpa(f, data_gpa(0) + 20, 1), 0xaa);
}

static void discard_and_write_zeroes(void **state)
{
	struct fixture *f = *state;

	driver_init(f);
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_DISCARD, 16, 8, 0), VIRTIO_BLK_S_OK);
	assert_zero(file_bytes(f, 16 * 512, 8 * 512), 8 * 512);
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_WRITE_ZEROES, 24, 8, 0), VIRTIO_BLK_S_OK);
	assert_zero(file_bytes(f, 24 * 512, 8 * 512), 8 * 512);
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_WRITE_ZEROES, 33, 3,
				      VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), VIRTIO_BLK_S_OK);
	assert_zero(file_bytes(f, 33 * 512, 3 * 512), 3 * 512);
	/* Neighbours untouched; the file keeps its size. */
	assert_pattern(file_bytes(f, 15 * 512, 512), 15 * 512, 512);
	assert_pattern(file_bytes(f, 32 * 512, 512), 32 * 512, 512);
	assert_pattern(file_bytes(f, 36 * 512, 512), 36 * 512, 512);
	/* The device reads zeros back too. */
	memset(gpa(f, data_gpa(0), 4096), 0x55, 4096);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 16, data_gpa(0), 4096), VIRTIO_BLK_S_OK);
	assert_zero(gpa(f, data_gpa(0), 4096), 4096);
	/* Unmap on discard, unknown flags: unsupported. Out of range: an error. */
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_DISCARD, 0, 8,
				      VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_DISCARD, IMG_SECTORS - 4, 8, 0),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_WRITE_ZEROES, ~0ULL - 2, 8, 0),
			 VIRTIO_BLK_S_IOERR);
	assert_pattern(file_bytes(f, 0, 512), 0, 512);
}

/* Two segments: more than max_discard_seg. */
static void discard_with_two_segments_fails(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_discard_write_zeroes d[2] = {
		{ .sector = htole64(0), .num_sectors = htole32(8) },
		{ .sector = htole64(8), .num_sectors = htole32(8) },
	};
	struct seg s[3] = {
		{ hdr_gpa(0), 16, false }, { data_gpa(0), 32, false }, { status_gpa(0), 1, true },
	};

	driver_init(f);
	put_hdr(f, 0, VIRTIO_BLK_T_DISCARD, 0);
	memcpy(gpa(f, data_gpa(0), sizeof(d)), d, sizeof(d));
	assert_int_equal(run_chain(f, 0, s, 3), VIRTIO_BLK_S_IOERR);
	assert_pattern(file_bytes(f, 0, 8192), 0, 8192);
}

/* Discard and write zeroes refused by the driver: the device must not do them. */
static void discard_not_negotiated_is_unsupported(void **state)
{
	struct fixture *f = *state;

	driver_init_refusing(f, (1ULL << VIRTIO_BLK_F_DISCARD) |
			     (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0),
			 VIRTIO_BLK_S_UNSUPP);
	assert_pattern(file_bytes(f, 0, 4096), 0, 4096);
}

static void out_of_range_is_ioerr(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	driver_init(f);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, data_gpa(0), 1024),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMG_SECTORS, data_gpa(0), 512),
			 VIRTIO_BLK_S_IOERR);
	/* sector * 512 would wrap around to a small offset. */
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 1ULL << 55, data_gpa(0), 512),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, ~0ULL, data_gpa(0), 512), VIRTIO_BLK_S_IOERR);
	fill(f, data_gpa(0), 1024, 9);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, data_gpa(0), 1024),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(fstat(f->img, &st), 0);
	assert_int_equal(st.st_size, IMG_SIZE);
	assert_pattern(file_bytes(f, IMG_SIZE - 512, 512), IMG_SIZE - 512, 512);
	assert_false(rd(f, REG_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void readonly_refuses_writes(void **state)
{
	struct fixture *f = *state;

	driver_init(f);
	assert_true(f->features & (1ULL << VIRTIO_BLK_F_RO));
	assert_false(f->features & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_false(f->features & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	fill(f, data_gpa(0), 512, 3);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 0, data_gpa(0), 512), VIRTIO_BLK_S_IOERR);
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0),
			 VIRTIO_BLK_S_UNSUPP);
	assert_pattern(file_bytes(f, 0, 4096), 0, 4096);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 0, data_gpa(0), 512), VIRTIO_BLK_S_OK);
	assert_pattern(gpa(f, data_gpa(0), 512), 0, 512);
	assert_int_equal(rw(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);
}

static void unknown_types_are_unsupported(void **state)
{
	struct fixture *f = *state;

	driver_init(f);
	assert_int_equal(rw(f, 99, 0, data_gpa(0), 512), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(f->last_len, 1);
	assert_int_equal(rw(f, VIRTIO_BLK_T_SECURE_ERASE, 0, data_gpa(0), 512),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(rw(f, VIRTIO_BLK_T_SCSI_CMD, 0, data_gpa(0), 512),
			 VIRTIO_BLK_S_UNSUPP);
	assert_false(rd(f, REG_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void malformed_requests_are_ioerr(void **state)
{
	struct fixture *f = *state;
	struct seg s[3];

	driver_init(f);
	/* Length not a multiple of 512. */
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 0, data_gpa(0), 100), VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 0, data_gpa(0), 700), VIRTIO_BLK_S_IOERR);
	/* A read without a data buffer, a read whose data is readable. */
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 0, 0, 0), VIRTIO_BLK_S_IOERR);
	put_hdr(f, 0, VIRTIO_BLK_T_IN, 0);
	s[0] = (struct seg){ hdr_gpa(0), 16, false };
	s[1] = (struct seg){ data_gpa(0), 512, false };
	s[2] = (struct seg){ status_gpa(0), 1, true };
	assert_int_equal(run_chain(f, 0, s, 3), VIRTIO_BLK_S_IOERR);
	/* A write whose data is writable. */
	put_hdr(f, 0, VIRTIO_BLK_T_OUT, 0);
	s[1].write = true;
	assert_int_equal(run_chain(f, 0, s, 3), VIRTIO_BLK_S_IOERR);
	assert_pattern(file_bytes(f, 0, 512), 0, 512);
	/* A header of 8 bytes. */
	put_hdr(f, 0, VIRTIO_BLK_T_IN, 0);
	s[0].len = 8;
	s[1] = s[2];
	assert_int_equal(run_chain(f, 0, s, 2), VIRTIO_BLK_S_IOERR);
	assert_false(rd(f, REG_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	/* Still working. */
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 1, data_gpa(0), 512), VIRTIO_BLK_S_OK);
	assert_pattern(gpa(f, data_gpa(0), 512), 512, 512);
}

/* Header in three pieces, data in two, status on its own; and merged layouts. */
static void split_and_merged_descriptors(void **state)
{
	struct fixture *f = *state;
	uint8_t *merged;
	struct seg s[6] = {
		{ hdr_gpa(0), 5, false }, { hdr_gpa(0) + 5, 7, false },
		{ hdr_gpa(0) + 12, 4, false }, { data_gpa(0), 1000, true },
		{ data_gpa(0) + 1000, 24, true }, { status_gpa(0), 1, true },
	};

	driver_init(f);
	put_hdr(f, 0, VIRTIO_BLK_T_IN, 20);
	memset(gpa(f, data_gpa(0), 1024), 0, 1024);
	assert_int_equal(run_chain(f, 0, s, 6), VIRTIO_BLK_S_OK);
	assert_pattern(gpa(f, data_gpa(0), 1024), 20 * 512, 1024);
	assert_int_equal(f->last_len, 1025);

	/* A write with header and data in one descriptor, the data split oddly. */
	merged = gpa(f, data_gpa(1), 16 + 1024);
	memcpy(merged, &(struct virtio_blk_outhdr){ .type = htole32(VIRTIO_BLK_T_OUT),
						    .sector = htole64(40) }, 16);
	fill(f, data_gpa(1) + 16, 1024, 0x77);
	s[0] = (struct seg){ data_gpa(1), 16 + 333, false };
	s[1] = (struct seg){ data_gpa(1) + 16 + 333, 1024 - 333, false };
	s[2] = (struct seg){ status_gpa(0), 1, true };
	*(uint8_t *)gpa(f, status_gpa(0), 1) = 0xee;
	assert_int_equal(run_chain(f, 0, s, 3), VIRTIO_BLK_S_OK);
	assert_filled(file_bytes(f, 40 * 512, 1024), 1024, 0x77);

	/* A read with data and status in one writable descriptor. */
	put_hdr(f, 0, VIRTIO_BLK_T_IN, 40);
	s[0] = (struct seg){ hdr_gpa(0), 16, false };
	s[1] = (struct seg){ data_gpa(2), 513, true };
	memset(gpa(f, data_gpa(2), 513), 0xee, 513);
	assert_int_equal(run_chain(f, 0, s, 2), 0xee);	/* status_gpa untouched... */
	assert_int_equal(*(uint8_t *)gpa(f, data_gpa(2) + 512, 1), VIRTIO_BLK_S_OK);
	assert_filled(gpa(f, data_gpa(2), 512), 512, 0x77);
}

/* Many requests in one go, through indirect tables: all complete, in any order. */
static void many_requests_in_flight(void **state)
{
	struct fixture *f = *state;
	enum { N = QSIZE };
	bool seen[QSIZE] = { false };
	uint16_t heads[N];

	driver_init(f);
	assert_true(f->features & (1ULL << VIRTIO_F_INDIRECT_DESC));
	for (unsigned int k = 0; k < N; k++) {
		bool write = k % 2;
		uint64_t sector = 64 + 8ULL * k;
		struct seg s[3] = {
			{ hdr_gpa(k), 16, false },
			{ data_gpa(k), 4096, !write },
			{ status_gpa(k), 1, true },
		};

		put_hdr(f, k, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, sector);
		if (write)
			fill(f, data_gpa(k), 4096, (uint8_t)k);
		else
			memset(gpa(f, data_gpa(k), 4096), 0, 4096);
		heads[k] = add_chain(f, s, 3, true);
	}
	wr(f, REG_NOTIFY, 0);
	wait_used(f, N);
	for (unsigned int i = 0; i < N; i++) {
		struct virtq_used_elem *e = used_elem(f, (uint16_t)(f->seen_used + i));

		assert_true(e->id < QSIZE);
		assert_false(seen[e->id]);
		seen[e->id] = true;
	}
	f->seen_used += N;
	for (unsigned int k = 0; k < N; k++) {
		uint64_t sector = 64 + 8ULL * k;

		assert_true(seen[heads[k]]);
		assert_int_equal(status_of(f, k), VIRTIO_BLK_S_OK);
		if (k % 2)
			assert_filled(file_bytes(f, sector * 512, 4096), 4096, (uint8_t)k);
		else
			assert_pattern(gpa(f, data_gpa(k), 4096), sector * 512, 4096);
	}
	assert_false(rd(f, REG_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void missing_status_byte_needs_reset(void **state)
{
	struct fixture *f = *state;
	struct seg s[2] = { { hdr_gpa(0), 16, false }, { data_gpa(0), 512, false } };

	driver_init(f);
	put_hdr(f, 0, VIRTIO_BLK_T_OUT, 0);
	add_chain(f, s, 2, false);
	wr(f, REG_NOTIFY, 0);
	assert_true(vt_eventually(vt_needs_reset(&f->vm), 5000));
	assert_int_equal(used_idx(f), 0);
	assert_pattern(file_bytes(f, 0, 512), 0, 512);
	/* After a reset the device works again. */
	driver_init(f);
	assert_false(rd(f, REG_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 2, data_gpa(0), 512), VIRTIO_BLK_S_OK);
	assert_pattern(gpa(f, data_gpa(0), 512), 1024, 512);
}

/*
 * A reset with requests in flight: whatever completes after it writes
 * neither a status byte nor the used ring, and the device works afterwards.
 */
static void reset_drops_requests_in_flight(void **state)
{
	struct fixture *f = *state;
	enum { N = 64 };

	driver_init(f);
	for (unsigned int k = 0; k < N; k++) {
		struct seg s[3] = {
			{ hdr_gpa(k), 16, false },
			{ data_gpa(k), 4096, k % 2 == 0 },
			{ status_gpa(k), 1, true },
		};

		put_hdr(f, k, k % 2 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, 8ULL * k);
		fill(f, data_gpa(k), 4096, (uint8_t)k);
		add_chain(f, s, 3, true);
	}
	wr(f, REG_NOTIFY, 0);
	wr(f, REG_STATUS, 0);
	/* From here on the queue memory is the driver's again. */
	memset(gpa(f, USED_GPA, 4 + 8 * QSIZE + 2), 0xcc, 4 + 8 * QSIZE + 2);
	for (unsigned int k = 0; k < N; k++)
		*(uint8_t *)gpa(f, status_gpa(k), 1) = 0xdd;
	/* The status write returned only once nothing from before the reset ran. */
	assert_false(f->dev->ops->busy(f->dev));
	vt_sleep_ms(10);
	for (unsigned int k = 0; k < N; k++)
		assert_int_equal(status_of(f, k), 0xdd);
	for (unsigned int i = 0; i < 4 + 8 * QSIZE + 2; i++)
		assert_int_equal(*(uint8_t *)gpa(f, USED_GPA + i, 1), 0xcc);
	driver_init(f);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 3, data_gpa(0), 512), VIRTIO_BLK_S_OK);
	assert_pattern(gpa(f, data_gpa(0), 512), 3 * 512, 512);
}

/* cache=none: unaligned, oddly split guest buffers go through a bounce buffer. */
static void direct_io_with_unaligned_buffers(void **state)
{
	struct fixture *f = *state;
	const uint32_t big = 200 * 1024;	/* more than one bounce chunk */
	struct seg s[4] = {
		{ hdr_gpa(0), 16, false }, { data_gpa(0) + 3, 700, false },
		{ data_gpa(0) + 3 + 700, 324, false }, { status_gpa(0), 1, true },
	};

	driver_init(f);
	fill(f, data_gpa(0) + 3, 1024, 0x21);
	put_hdr(f, 0, VIRTIO_BLK_T_OUT, 100);
	assert_int_equal(run_chain(f, 0, s, 4), VIRTIO_BLK_S_OK);
	assert_filled(file_bytes(f, 100 * 512, 1024), 1024, 0x21);
	/* Read it back into unaligned buffers. */
	memset(gpa(f, data_gpa(1), 1100), 0, 1100);
	s[1] = (struct seg){ data_gpa(1) + 5, 1000, true };
	s[2] = (struct seg){ data_gpa(1) + 1005, 24, true };
	put_hdr(f, 0, VIRTIO_BLK_T_IN, 100);
	assert_int_equal(run_chain(f, 0, s, 4), VIRTIO_BLK_S_OK);
	assert_filled(gpa(f, data_gpa(1) + 5, 1024), 1024, 0x21);
	assert_int_equal(f->last_len, 1025);
	/* Aligned buffers go straight through. */
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 100, data_gpa(2), 1024), VIRTIO_BLK_S_OK);
	assert_filled(gpa(f, data_gpa(2), 1024), 1024, 0x21);
	/* A large unaligned write and read, in several chunks. */
	fill(f, BIG_GPA + 1, big, 0x99);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 1000, BIG_GPA + 1, big), VIRTIO_BLK_S_OK);
	assert_filled(file_bytes(f, 1000 * 512, big), big, 0x99);
	memset(gpa(f, BIG_GPA, big + 8), 0, big + 8);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 1000, BIG_GPA + 7, big), VIRTIO_BLK_S_OK);
	assert_filled(gpa(f, BIG_GPA + 7, big), big, 0x99);
	assert_int_equal(rw(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(discard_like(f, VIRTIO_BLK_T_WRITE_ZEROES, 1000, 8, 0), VIRTIO_BLK_S_OK);
	assert_zero(file_bytes(f, 1000 * 512, 4096), 4096);
}

/* The image shrinks under the device: reads past its new end fail, never hang or succeed. */
static void truncated_image_reads_fail(void **state)
{
	struct fixture *f = *state;

	driver_init(f);
	assert_int_equal(ftruncate(f->img, IMG_SIZE / 2), 0);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMG_SECTORS / 2 + 8, data_gpa(0), 512),
			 VIRTIO_BLK_S_IOERR);
	/* Straddling the end: a short read, then nothing. */
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, IMG_SECTORS / 2 - 1, data_gpa(0), 1024),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 0, data_gpa(0), 512), VIRTIO_BLK_S_OK);
	assert_pattern(gpa(f, data_gpa(0), 512), 0, 512);
}

/* A real host write error: EFBIG past RLIMIT_FSIZE, also after a short write. */
static void host_write_error_is_ioerr(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, lim;
	void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);

	driver_init(f);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 64 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	fill(f, data_gpa(0), 8192, 0x31);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 256, data_gpa(0), 1024), VIRTIO_BLK_S_IOERR);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 120, data_gpa(0), 8192), VIRTIO_BLK_S_IOERR);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_handler);
	assert_pattern(file_bytes(f, 256 * 512, 1024), 256 * 512, 1024);
	assert_false(rd(f, REG_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 256, data_gpa(0), 1024), VIRTIO_BLK_S_OK);
	assert_filled(file_bytes(f, 256 * 512, 1024), 1024, 0x31);
}

/* ---- creation ---- */

static struct virtio_dev *create_on(struct vm *vm, struct io_loop *l, unsigned int index,
				    const char *path, bool ro)
{
	struct disk_config cfg = { .readonly = ro };

	snprintf(cfg.path, sizeof(cfg.path), "%s", path);
	return virtio_blk_create(vm, l, index, &cfg);
}

static void second_writer_is_refused(void **state)
{
	struct fixture *f = *state;
	struct vm vm = { .accel = &vt_recording_accel, .mmio = { .name = "mmio" } };
	struct io_loop *l = io_loop_create();

	/* The fixture's device holds the image for writing. */
	assert_null(create_on(&vm, l, 0, f->path, false));
	assert_null(create_on(&vm, l, 0, f->path, true));
	io_loop_destroy(l);
	bus_destroy(&vm.mmio);
}

static void readers_share_an_image(void **state)
{
	struct fixture *f = *state;
	struct vm vm = { .accel = &vt_recording_accel, .mmio = { .name = "mmio" } };
	struct io_loop *l = io_loop_create();

	assert_int_equal(guest_memory_init(&vm.mem, 1 << 20), 0);
	assert_non_null(create_on(&vm, l, 0, f->path, true));
	assert_non_null(create_on(&vm, l, 1, f->path, true));
	assert_null(create_on(&vm, l, 2, f->path, false));
	io_loop_destroy(l);
	bus_destroy(&vm.mmio);
	guest_memory_destroy(&vm.mem);
}

static void bad_images_are_refused(void **state)
{
	struct vm vm = { .accel = &vt_recording_accel, .mmio = { .name = "mmio" } };
	struct io_loop *l = io_loop_create();
	char path[] = "/tmp/spry-blk-odd-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1000), 0);
	assert_null(create_on(&vm, l, 0, path, false));		/* not a multiple of 512 */
	assert_null(create_on(&vm, l, 0, "/nonexistent/disk.img", false));
	assert_null(create_on(&vm, l, 0, "/dev/null", false));	/* not a file or disk */
	assert_int_equal(vm.mmio.ndevices, 0);
	close(fd);
	unlink(path);
	io_loop_destroy(l);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TP(fn, o) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&(o))

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(identity_features_and_config),
		T(read_sectors),
		T(write_then_read_back),
		T(flush_succeeds),
		T(get_id_returns_serial),
		T(discard_and_write_zeroes),
		TP(discard_and_write_zeroes, shm),
		T(discard_with_two_segments_fails),
		T(discard_not_negotiated_is_unsupported),
		T(out_of_range_is_ioerr),
		TP(readonly_refuses_writes, readonly),
		T(unknown_types_are_unsupported),
		T(malformed_requests_are_ioerr),
		T(split_and_merged_descriptors),
		T(many_requests_in_flight),
		TP(many_requests_in_flight, direct),
		T(missing_status_byte_needs_reset),
		T(reset_drops_requests_in_flight),
		TP(direct_io_with_unaligned_buffers, direct),
		T(truncated_image_reads_fail),
		T(host_write_error_is_ioerr),
		TP(host_write_error_is_ioerr, direct),
		T(second_writer_is_refused),
		TP(readers_share_an_image, readonly),
		cmocka_unit_test(bad_images_are_refused),
	};

	getrlimit(RLIMIT_FSIZE, &initial_fsize);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
