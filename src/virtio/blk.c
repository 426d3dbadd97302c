/*
 * virtio-blk (virtio 1.2, 5.2) on a raw image file or block device: one
 * request queue whose requests become io_uring reads, writes, fdatasyncs and
 * fallocates on the I/O thread, many in flight and completed in any order.
 * Relies on virtqueue.c for chain parsing and the mmio transport for the rest.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/virtio_blk.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spry/log.h"
#include "spry/virtio.h"
#include "spry/virtio_devices.h"

#define BLK_QUEUE_SIZE		256
#define SECTOR_SHIFT		9
#define SECTOR_SIZE		(1U << SECTOR_SHIFT)
#define HDR_SIZE		16	/* struct virtio_blk_outhdr */
#define SEG_SIZE		16	/* struct virtio_blk_discard_write_zeroes */
#define BOUNCE_SIZE		(64U * 1024)	/* O_DIRECT bounce chunk, per request */
#define BOUNCE_ALIGN		4096
#define MAX_DISCARD_SECTORS	(1U << 22)	/* 2 GiB per discard/write-zeroes */
#define DISCARD_ALIGN_SECTORS	8
/* The config fields up to write_zeroes_may_unmap and its padding; no secure erase, no zones. */
#define BLK_CONFIG_SIZE		offsetof(struct virtio_blk_config, max_secure_erase_sectors)

enum req_kind { REQ_READ, REQ_WRITE, REQ_FLUSH, REQ_DISCARD, REQ_ZEROES };

/*
 * One request slot. Slots are not tied to chain heads: a request from before
 * a reset keeps its slot until its completion arrives, while the driver may
 * already be reusing the head.
 */
struct blk_req {
	struct io_op op;	/* first: the completion finds the request from it */
	struct blk *blk;
	struct blk_req *next_free;
	bool busy;
	bool stale;		/* issued before a reset: drop the result */
	enum req_kind kind;
	uint8_t *status;	/* the chain's last writable byte */
	uint64_t offset;	/* file offset of the data */
	uint64_t len, done;	/* data bytes, and those transferred so far */
	unsigned int niov, cur;	/* data in chain.iov[cur..niov); iov[cur] is advanced in place */
	bool use_bounce;	/* O_DIRECT and guest buffers not aligned: go through bounce */
	bool zero_fill;		/* write zeroes by writing the (zeroed) bounce buffer */
	int fmode;		/* fallocate mode being tried */
	uint8_t *bounce;	/* BOUNCE_SIZE bytes, allocated on first use and kept */
	struct iovec biov;
	struct virtq_chain chain;
};

struct blk {
	struct virtio_dev *dev;
	struct virtio_dev_ops ops;
	char *path;
	int fd, file_index;
	bool readonly, direct;
	uint64_t capacity;		/* 512-byte sectors */
	uint32_t mem_align, off_align;	/* O_DIRECT buffer and offset/length alignment */
	struct virtio_blk_config config;	/* little endian, constant after create */
	char serial[VIRTIO_BLK_ID_BYTES];

	/* I/O thread only. */
	bool started;		/* between start() and reset() */
	bool starved;		/* every slot busy: popping resumes when one frees */
	bool notify_due;	/* pushed since the last virtio_notify_used() */
	bool no_zero_range, no_punch_hole;	/* the backend refused these fallocate modes */
	bool violation_logged, host_error_logged;
	struct blk_req *free_list;

	atomic_uint inflight;	/* slots in use, stale ones included */
	struct blk_req req[BLK_QUEUE_SIZE];
};

static void process_queue(struct blk *b);

/* ---- logging: once per device each ---- */

static void violation(struct blk *b, const char *why)
{
	if (b->violation_logged)
		return;
	b->violation_logged = true;
	spry_err("virtio-blk %s: guest driver error: %s; answering IOERR (logged once)", b->path,
		 why);
}

static void host_error(struct blk *b, const char *what, int err)
{
	if (b->host_error_logged)
		return;
	b->host_error_logged = true;
	spry_err("virtio-blk %s: %s: %s; the guest sees IOERR (further errors not logged)",
		 b->path, what, strerror(err));
}

/* ---- slots and completion ---- */

static void release(struct blk *b, struct blk_req *r)
{
	r->busy = false;
	r->next_free = b->free_list;
	b->free_list = r;
	atomic_fetch_sub(&b->inflight, 1);
}

/*
 * Answer the request, unless it is from before a reset or the device is
 * broken: then its queue may belong to someone else, and nothing is written.
 */
static void complete(struct blk *b, struct blk_req *r, uint8_t status, uint64_t written)
{
	struct virtio_dev *d = b->dev;

	if (!r->stale && b->started && !atomic_load(&d->broken)) {
		*r->status = status;
		virtq_push(&d->vq[0], r->chain.head,
			   written > UINT32_MAX ? UINT32_MAX : (uint32_t)written);
		b->notify_due = true;
	}
	release(b, r);
}

/*
 * A completion nobody must see: the request is from before a reset (a read's
 * bounce data is then not copied out either), or the loop cancelled it
 * because spry is stopping.
 */
static bool dropped(struct blk *b, struct blk_req *r, int res)
{
	if (!r->stale && res != -ECANCELED)
		return false;
	release(b, r);
	return true;
}

static void flush_notify(struct blk *b)
{
	if (b->notify_due) {
		b->notify_due = false;
		virtio_notify_used(b->dev, 0);
	}
}

/* After a completion callback: interrupt the driver, and take more work if slots were short. */
static void after_completion(struct blk *b)
{
	if (b->starved && b->started) {
		b->starved = false;
		process_queue(b);	/* notifies too */
		return;
	}
	flush_notify(b);
}

/* ---- guest buffers ---- */

/* Copy @len bytes at offset @off of the chain's readable part; false if it is shorter. */
static bool gather(const struct virtq_chain *c, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (unsigned int i = 0; i < c->nread && len; i++) {
		size_t n = c->iov[i].iov_len;

		if (off >= n) {
			off -= n;
			continue;
		}
		n -= off;
		if (n > len)
			n = len;
		memcpy(p, (uint8_t *)c->iov[i].iov_base + off, n);
		p += n;
		len -= n;
		off = 0;
	}
	return len == 0;
}

static uint8_t *last_writable_byte(const struct virtq_chain *c)
{
	for (unsigned int i = c->nread + c->nwrite; i-- > c->nread;)
		if (c->iov[i].iov_len)
			return (uint8_t *)c->iov[i].iov_base + c->iov[i].iov_len - 1;
	return NULL;
}

/*
 * Turn the chain's iovecs into the request's data iovecs, in place (each
 * entry moves down, never up): for a write the readable bytes after the
 * header, for a read (or GET_ID) the writable bytes before the status byte.
 */
static void collect_data(struct blk_req *r, bool readable, uint64_t len)
{
	struct virtq_chain *c = &r->chain;
	unsigned int first = readable ? 0 : c->nread;
	unsigned int end = readable ? c->nread : c->nread + c->nwrite;
	uint64_t skip = readable ? HDR_SIZE : 0;
	unsigned int n = 0;

	for (unsigned int i = first; i < end && len; i++) {
		uint8_t *base = c->iov[i].iov_base;
		uint64_t l = c->iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		base += skip;
		l -= skip;
		skip = 0;
		if (l > len)
			l = len;
		c->iov[n++] = (struct iovec){ .iov_base = base, .iov_len = l };
		len -= l;
	}
	r->niov = n;
	r->cur = 0;
}

/* Copy @n bytes between @buf and the data iovecs from the cursor on, leaving it there. */
static void iov_copy(struct blk_req *r, uint8_t *buf, size_t n, bool to_guest)
{
	for (unsigned int i = r->cur; n && i < r->niov; i++) {
		struct iovec *v = &r->chain.iov[i];
		size_t k = v->iov_len < n ? v->iov_len : n;

		if (to_guest)
			memcpy(v->iov_base, buf, k);
		else
			memcpy(buf, v->iov_base, k);
		buf += k;
		n -= k;
	}
}

static void iov_advance(struct blk_req *r, size_t n)
{
	while (n && r->cur < r->niov) {
		struct iovec *v = &r->chain.iov[r->cur];

		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			return;
		}
		n -= v->iov_len;
		r->cur++;
	}
}

/* O_DIRECT wants each buffer aligned in memory and a multiple of the offset alignment long. */
static bool iovs_direct_ok(const struct blk *b, const struct blk_req *r)
{
	for (unsigned int i = 0; i < r->niov; i++)
		if (((uintptr_t)r->chain.iov[i].iov_base & (b->mem_align - 1)) ||
		    (r->chain.iov[i].iov_len & (b->off_align - 1)))
			return false;
	return true;
}

static bool get_bounce(struct blk *b, struct blk_req *r)
{
	void *p;
	int err;

	if (r->bounce)
		return true;
	err = posix_memalign(&p, BOUNCE_ALIGN, BOUNCE_SIZE);
	if (err) {
		host_error(b, "bounce buffer", err);
		return false;
	}
	r->bounce = p;
	return true;
}

/* ---- reads and writes ---- */

static void rw_done(struct io_op *op, int res);

/* Submit the rest of a read or write: from the cursor, or the next bounce chunk. */
static void submit_rw(struct blk *b, struct blk_req *r)
{
	struct io_uring_sqe *sqe = io_loop_get_sqe(b->dev->loop, &r->op);
	uint64_t off = r->offset + r->done;
	const struct iovec *iov = &r->chain.iov[r->cur];
	unsigned int n = r->niov - r->cur;

	r->op.done = rw_done;
	if (r->use_bounce) {
		size_t chunk = r->len - r->done < BOUNCE_SIZE ? r->len - r->done : BOUNCE_SIZE;

		if (r->kind == REQ_WRITE && !r->zero_fill)
			iov_copy(r, r->bounce, chunk, false);
		r->biov = (struct iovec){ .iov_base = r->bounce, .iov_len = chunk };
		iov = &r->biov;
		n = 1;
	}
	if (r->kind == REQ_READ)
		io_uring_prep_readv(sqe, b->file_index, iov, n, off);
	else
		io_uring_prep_writev(sqe, b->file_index, iov, n, off);
}

static void rw_done(struct io_op *op, int res)
{
	struct blk_req *r = (struct blk_req *)op;
	struct blk *b = r->blk;
	const char *what = r->kind == REQ_READ ? "read" : "write";

	if (dropped(b, r, res))
		return;
	if (res <= 0 || (uint64_t)res > r->len - r->done) {
		/* 0: end of file (the image shrank) or nothing written; never loop on it. */
		if (res == 0)
			what = r->kind == REQ_READ ? "read: end of file (did the image shrink?)" :
			       "write: nothing written";
		host_error(b, what, res < 0 ? -res : EIO);
		complete(b, r, VIRTIO_BLK_S_IOERR, r->kind == REQ_READ ? r->done + 1 : 1);
		after_completion(b);
		return;
	}
	if (r->kind == REQ_READ && r->use_bounce)
		iov_copy(r, r->bounce, (size_t)res, true);
	iov_advance(r, (size_t)res);
	r->done += (uint64_t)res;
	if (r->done < r->len) {
		/* A short transfer: go on with the rest; partial I/O is never success. */
		submit_rw(b, r);
		return;
	}
	complete(b, r, VIRTIO_BLK_S_OK, r->kind == REQ_READ ? r->len + 1 : 1);
	after_completion(b);
}

/* Is [sector, sector + count) on the disk? Overflow-free: sector is checked first. */
static bool in_range(const struct blk *b, uint64_t sector, uint64_t count)
{
	return sector <= b->capacity && count <= b->capacity - sector;
}

/* Start a read or write; false when answered at once (with @status). */
static bool start_rw(struct blk *b, struct blk_req *r, uint64_t sector, uint8_t *status)
{
	const struct virtq_chain *c = &r->chain;
	bool write = r->kind == REQ_WRITE;
	uint64_t len;

	*status = VIRTIO_BLK_S_IOERR;
	if (write && c->write_len != 1) {
		violation(b, "write request with writable data");
		return false;
	}
	if (!write && c->read_len != HDR_SIZE) {
		violation(b, "read request with readable data");
		return false;
	}
	len = write ? c->read_len - HDR_SIZE : c->write_len - 1;
	if (len == 0 || len % SECTOR_SIZE) {
		violation(b, "data length not a positive multiple of 512");
		return false;
	}
	if (!in_range(b, sector, len >> SECTOR_SHIFT))
		return false;	/* beyond the end: an error the guest may legitimately see */
	if (write && b->readonly)
		return false;
	r->offset = sector << SECTOR_SHIFT;
	r->len = len;
	r->done = 0;
	if (b->direct && ((r->offset | len) & (b->off_align - 1))) {
		/* Only a driver ignoring blk_size does this; we do not read-modify-write. */
		violation(b, "I/O not aligned to the advertised block size");
		return false;
	}
	collect_data(r, write, len);
	r->use_bounce = b->direct && !iovs_direct_ok(b, r);
	r->zero_fill = false;
	if (r->use_bounce && !get_bounce(b, r))
		return false;
	submit_rw(b, r);
	return true;
}

/* ---- flush, discard, write zeroes ---- */

static void flush_done(struct io_op *op, int res)
{
	struct blk_req *r = (struct blk_req *)op;
	struct blk *b = r->blk;

	if (dropped(b, r, res))
		return;
	if (res < 0)
		host_error(b, "fdatasync", -res);
	complete(b, r, res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK, 1);
	after_completion(b);
}

/*
 * A write is acknowledged only after its completion, so when a flush
 * arrives every write acknowledged before it has reached the file (page
 * cache, or the device's volatile cache under O_DIRECT). One fdatasync
 * issued now therefore makes all of them durable; writes still in flight
 * are not acknowledged yet and a flush owes them nothing. No draining or
 * ordering against other requests is needed.
 */
static void start_flush(struct blk *b, struct blk_req *r)
{
	struct io_uring_sqe *sqe = io_loop_get_sqe(b->dev->loop, &r->op);

	r->op.done = flush_done;
	io_uring_prep_fsync(sqe, b->file_index, IORING_FSYNC_DATASYNC);
}

static void falloc_done(struct io_op *op, int res);

static void submit_falloc(struct blk *b, struct blk_req *r, int mode)
{
	struct io_uring_sqe *sqe = io_loop_get_sqe(b->dev->loop, &r->op);

	r->op.done = falloc_done;
	r->fmode = mode;
	io_uring_prep_fallocate(sqe, b->file_index, mode, (off_t)r->offset, (off_t)r->len);
}

#define MODE_PUNCH	(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
#define MODE_ZERO	(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)

/*
 * Write zeroes: try the preferred fallocate mode, then the other one, then
 * plain writes of a zeroed buffer. Returns false when nothing was started.
 */
static bool next_zero_method(struct blk *b, struct blk_req *r, bool prefer_punch)
{
	int first = prefer_punch ? MODE_PUNCH : MODE_ZERO;
	int second = prefer_punch ? MODE_ZERO : MODE_PUNCH;
	bool first_ok = first == MODE_PUNCH ? !b->no_punch_hole : !b->no_zero_range;
	bool second_ok = second == MODE_PUNCH ? !b->no_punch_hole : !b->no_zero_range;

	if (first_ok) {
		submit_falloc(b, r, first);
		return true;
	}
	if (second_ok) {
		submit_falloc(b, r, second);
		return true;
	}
	if (!get_bounce(b, r))
		return false;
	memset(r->bounce, 0, BOUNCE_SIZE);
	r->kind = REQ_WRITE;
	r->use_bounce = true;
	r->zero_fill = true;
	r->niov = r->cur = 0;
	r->done = 0;
	submit_rw(b, r);
	return true;
}

static void falloc_done(struct io_op *op, int res)
{
	struct blk_req *r = (struct blk_req *)op;
	struct blk *b = r->blk;

	if (dropped(b, r, res))
		return;
	if (res == -EOPNOTSUPP) {
		if (r->fmode == MODE_PUNCH)
			b->no_punch_hole = true;
		else
			b->no_zero_range = true;
		/* A discard is a hint: a backend that cannot deallocate simply keeps the data. */
		if (r->kind == REQ_DISCARD) {
			complete(b, r, VIRTIO_BLK_S_OK, 1);
			after_completion(b);
			return;
		}
		if (next_zero_method(b, r, false))
			return;
	}
	if (res < 0 && res != -EOPNOTSUPP)
		host_error(b, r->kind == REQ_DISCARD ? "discard" : "write zeroes", -res);
	complete(b, r, res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK, 1);
	after_completion(b);
}

/* DISCARD and WRITE_ZEROES: one segment {sector, num_sectors, flags}. */
static bool start_discard(struct blk *b, struct blk_req *r, uint32_t type, uint8_t *status)
{
	const struct virtq_chain *c = &r->chain;
	bool discard = type == VIRTIO_BLK_T_DISCARD;
	unsigned int bit = discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;
	struct virtio_blk_discard_write_zeroes seg;
	uint64_t sector;
	uint32_t num, flags;

	*status = VIRTIO_BLK_S_UNSUPP;
	if (b->readonly || !virtio_has_feature(b->dev, bit))
		return false;
	*status = VIRTIO_BLK_S_IOERR;
	if (c->write_len != 1) {
		violation(b, "discard/write-zeroes request with writable data");
		return false;
	}
	if (c->read_len != HDR_SIZE + SEG_SIZE) {
		/* None, a partial one, or more than max_*_seg (1). */
		violation(b, "discard/write-zeroes request without exactly one segment");
		return false;
	}
	gather(c, HDR_SIZE, &seg, sizeof(seg));
	sector = le64toh(seg.sector);
	num = le32toh(seg.num_sectors);
	flags = le32toh(seg.flags);
	if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
	    (discard && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))) {
		*status = VIRTIO_BLK_S_UNSUPP;	/* spec 5.2.6.2: unknown flags, unmap on discard */
		return false;
	}
	if (num > MAX_DISCARD_SECTORS) {
		violation(b, "discard/write-zeroes segment above the advertised maximum");
		return false;
	}
	if (!in_range(b, sector, num))
		return false;
	if (num == 0) {
		*status = VIRTIO_BLK_S_OK;
		return false;
	}
	r->kind = discard ? REQ_DISCARD : REQ_ZEROES;
	r->offset = sector << SECTOR_SHIFT;
	r->len = (uint64_t)num << SECTOR_SHIFT;
	if (discard) {
		if (b->no_punch_hole) {
			*status = VIRTIO_BLK_S_OK;
			return false;
		}
		submit_falloc(b, r, MODE_PUNCH);
		return true;
	}
	return next_zero_method(b, r, flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
}

/* ---- requests ---- */

static void get_id(struct blk *b, struct blk_req *r)
{
	const struct virtq_chain *c = &r->chain;
	uint64_t len = c->write_len - 1;

	if (len == 0) {
		violation(b, "GET_ID without a buffer");
		complete(b, r, VIRTIO_BLK_S_IOERR, 1);
		return;
	}
	if (len > VIRTIO_BLK_ID_BYTES)
		len = VIRTIO_BLK_ID_BYTES;
	collect_data(r, false, len);
	iov_copy(r, (uint8_t *)b->serial, (size_t)len, true);
	complete(b, r, VIRTIO_BLK_S_OK, len + 1);
}

/* Handle one popped chain. False when the device broke and must stop. */
static bool handle_request(struct blk *b, struct blk_req *r)
{
	struct virtq_chain *c = &r->chain;
	struct virtio_blk_outhdr hdr;
	uint8_t status = VIRTIO_BLK_S_IOERR;
	uint64_t sector;
	uint32_t type;
	bool started = false;

	r->status = last_writable_byte(c);
	if (!r->status) {
		/* Nowhere to answer: the driver broke the protocol. */
		release(b, r);
		virtio_device_error(b->dev, 0, "request without a status byte");
		return false;
	}
	if (!gather(c, 0, &hdr, sizeof(hdr))) {
		violation(b, "request header shorter than 16 bytes");
		complete(b, r, VIRTIO_BLK_S_IOERR, 1);
		return true;
	}
	type = le32toh(hdr.type);
	sector = le64toh(hdr.sector);
	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		r->kind = type == VIRTIO_BLK_T_IN ? REQ_READ : REQ_WRITE;
		started = start_rw(b, r, sector, &status);
		break;
	case VIRTIO_BLK_T_FLUSH:
		r->kind = REQ_FLUSH;
		start_flush(b, r);
		started = true;
		break;
	case VIRTIO_BLK_T_GET_ID:
		get_id(b, r);
		return true;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		started = start_discard(b, r, type, &status);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
	if (!started)
		complete(b, r, status, 1);
	return true;
}

/*
 * Take chains until the queue is empty, with notifications off while we
 * look and a last check after turning them back on, so that a buffer the
 * driver adds meanwhile is not missed. When every slot is busy (requests
 * from before a reset can hold some), notifications stay off and the next
 * completion resumes here.
 */
static void process_queue(struct blk *b)
{
	struct virtio_dev *d = b->dev;
	struct virtq *vq = &d->vq[0];

	while (b->started && vq->enabled && !atomic_load(&d->broken)) {
		int ret = 0;

		virtq_set_notify(vq, false);
		while (b->free_list) {
			struct blk_req *r = b->free_list;

			ret = virtq_pop(vq, &r->chain);
			if (ret <= 0)
				break;
			b->free_list = r->next_free;
			atomic_fetch_add(&b->inflight, 1);
			r->busy = true;
			r->stale = false;
			if (!handle_request(b, r)) {
				ret = -1;
				break;
			}
		}
		if (ret < 0) {
			if (!atomic_load(&d->broken))
				virtio_device_error(d, 0, NULL);
			break;
		}
		if (!b->free_list) {
			b->starved = true;
			break;
		}
		virtq_set_notify(vq, true);
		if (!virtq_has_work(vq))
			break;
	}
	flush_notify(b);
}

/* ---- device ops ---- */

static void blk_config_read(struct virtio_dev *d, uint32_t off, void *data, unsigned int len)
{
	struct blk *b = d->priv;

	memcpy(data, (const uint8_t *)&b->config + off, len);
}

static void blk_start(struct virtio_dev *d)
{
	struct blk *b = d->priv;

	b->started = true;
	b->starved = false;
	process_queue(b);
}

static void blk_queue_notify(struct virtio_dev *d, unsigned int q)
{
	struct blk *b = d->priv;

	if (q == 0)
		process_queue(b);
}

/*
 * Device reset. Requests in flight cannot be recalled from the kernel: they
 * are marked stale, keep their slots until they complete, and then are
 * dropped without touching the (old) queue or the status byte; reads that go
 * through a bounce buffer are not copied out either. A read straight into
 * guest memory may still land there after the reset, so the transport does
 * not finish the reset (the status write does not return) until blk_busy()
 * is false.
 */
static void blk_reset(struct virtio_dev *d)
{
	struct blk *b = d->priv;

	b->started = false;
	b->starved = false;
	b->notify_due = false;
	for (unsigned int i = 0; i < BLK_QUEUE_SIZE; i++)
		if (b->req[i].busy)
			b->req[i].stale = true;
}

/* Any thread: does any request (stale ones included) still use guest memory or the backend? */
static bool blk_busy(const struct virtio_dev *d)
{
	const struct blk *b = d->priv;

	return atomic_load(&b->inflight) != 0;
}

static void blk_free(struct blk *b)
{
	for (unsigned int i = 0; i < BLK_QUEUE_SIZE; i++)
		free(b->req[i].bounce);
	/*
	 * Unlock explicitly: the I/O ring's registered-file reference can
	 * outlive this close() (ring teardown is asynchronous), and the lock
	 * would stay with it, refusing the image to the next VM for a moment.
	 */
	if (b->fd >= 0) {
		flock(b->fd, LOCK_UN);
		close(b->fd);
	}
	free(b->path);
	free(b);
}

static void blk_destroy(struct virtio_dev *d)
{
	blk_free(d->priv);
}

/* ---- creation ---- */

static bool power_of_two(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* O_DIRECT alignment: statx where the kernel knows it, the logical block size, or 512. */
static int direct_alignment(struct blk *b, bool is_blkdev)
{
	struct statx stx;
	int lbs = 0;

	b->mem_align = b->off_align = SECTOR_SIZE;
	if (is_blkdev && ioctl(b->fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
		b->mem_align = b->off_align = (uint32_t)lbs;
	if (statx(b->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (!stx.stx_dio_offset_align) {
			spry_err("virtio-blk %s: cache=none: this file does not support direct I/O",
				 b->path);
			return -1;
		}
		b->mem_align = stx.stx_dio_mem_align ? stx.stx_dio_mem_align : 1;
		b->off_align = stx.stx_dio_offset_align;
	}
	if (b->off_align < SECTOR_SIZE)
		b->off_align = SECTOR_SIZE;
	if (!power_of_two(b->mem_align) || b->mem_align > BOUNCE_ALIGN ||
	    !power_of_two(b->off_align) || b->off_align > BOUNCE_ALIGN) {
		spry_err("virtio-blk %s: cache=none: unsupported direct I/O alignment %u/%u",
			 b->path, b->mem_align, b->off_align);
		return -1;
	}
	return 0;
}

static int open_backend(struct blk *b, const struct disk_config *cfg)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	uint64_t size;
	int lbs = 0;

	if (b->direct)
		flags |= O_DIRECT;
	b->fd = open(cfg->path, flags);
	if (b->fd < 0) {
		if (errno == EINVAL && b->direct)
			spry_err("virtio-blk %s: cache=none: the file system refuses direct I/O",
				 b->path);
		else
			spry_err("virtio-blk: cannot open %s: %s", b->path, strerror(errno));
		return -1;
	}
	/* flock locks the open file: a second VM, or a second --disk, on this image fails here. */
	if (flock(b->fd, (cfg->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB)) {
		if (errno == EWOULDBLOCK)
			spry_err("virtio-blk %s: image is in use (locked by another VM or disk%s)",
				 b->path, cfg->readonly ? " opened for writing" : "");
		else
			spry_err("virtio-blk %s: cannot lock: %s", b->path, strerror(errno));
		return -1;
	}
	if (fstat(b->fd, &st)) {
		spry_err("virtio-blk %s: %s", b->path, strerror(errno));
		return -1;
	}
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &size)) {
			spry_err("virtio-blk %s: cannot get its size: %s", b->path,
				 strerror(errno));
			return -1;
		}
		if (ioctl(b->fd, BLKSSZGET, &lbs) || lbs <= 0)
			lbs = SECTOR_SIZE;
	} else {
		spry_err("virtio-blk %s: not a regular file or block device", b->path);
		return -1;
	}
	/* Refused rather than rounded down: a tail the guest cannot reach means a wrong image. */
	if (size % SECTOR_SIZE) {
		spry_err("virtio-blk %s: size %llu is not a multiple of 512 bytes", b->path,
			 (unsigned long long)size);
		return -1;
	}
	b->capacity = size >> SECTOR_SHIFT;
	if (b->direct && direct_alignment(b, S_ISBLK(st.st_mode)))
		return -1;
	/* The guest's logical block size: what O_DIRECT needs, a block device's own, or 512. */
	if (b->direct)
		lbs = (int)b->off_align;
	if (lbs < (int)SECTOR_SIZE || lbs > BOUNCE_ALIGN || !power_of_two((uint32_t)lbs))
		lbs = SECTOR_SIZE;
	b->config.blk_size = htole32((uint32_t)lbs);
	return 0;
}

static void fill_config(struct blk *b)
{
	struct virtio_blk_config *c = &b->config;

	c->capacity = htole64(b->capacity);
	c->seg_max = htole32(BLK_QUEUE_SIZE - 2);
	if (!b->readonly) {
		c->max_discard_sectors = htole32(MAX_DISCARD_SECTORS);
		c->max_discard_seg = htole32(1);
		c->discard_sector_alignment = htole32(DISCARD_ALIGN_SECTORS);
		c->max_write_zeroes_sectors = htole32(MAX_DISCARD_SECTORS);
		c->max_write_zeroes_seg = htole32(1);
		c->write_zeroes_may_unmap = 1;
	}
}

struct virtio_dev *virtio_blk_create(struct vm *vm, struct io_loop *loop, unsigned int index,
				     const struct disk_config *cfg)
{
	struct blk *b = calloc(1, sizeof(*b));
	uint64_t features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
			    (1ULL << VIRTIO_BLK_F_FLUSH);

	if (!b) {
		spry_err("virtio-blk: out of memory");
		return NULL;
	}
	b->fd = -1;
	b->path = strdup(cfg->path);
	b->readonly = cfg->readonly;
	b->direct = cfg->cache == DISK_CACHE_NONE;
	if (!b->path || open_backend(b, cfg)) {
		blk_free(b);
		return NULL;
	}
	fill_config(b);
	/* Zero padded, not necessarily terminated (calloc zeroed it). */
	memcpy(b->serial, cfg->serial, strnlen(cfg->serial, sizeof(b->serial)));
	for (unsigned int i = BLK_QUEUE_SIZE; i-- > 0;) {
		b->req[i].blk = b;
		b->req[i].next_free = b->free_list;
		b->free_list = &b->req[i];
	}
	features |= b->readonly ? 1ULL << VIRTIO_BLK_F_RO :
		    (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	b->ops = (struct virtio_dev_ops){
		.name = "virtio-blk", .device_id = VIRTIO_ID_BLOCK, .nqueues = 1,
		.queue_max = BLK_QUEUE_SIZE, .features = features,
		.config_size = BLK_CONFIG_SIZE, .config_read = blk_config_read,
		.start = blk_start, .queue_notify = blk_queue_notify, .reset = blk_reset,
		.busy = blk_busy, .destroy = blk_destroy,
	};
	b->file_index = io_loop_add_file(loop, b->fd);
	if (b->file_index < 0) {
		spry_err("virtio-blk %s: cannot register with the I/O loop: %s", b->path,
			 strerror(-b->file_index));
		blk_free(b);
		return NULL;
	}
	b->dev = virtio_mmio_create(vm, loop, index, &b->ops, b);
	if (!b->dev) {
		/*
		 * The loop keeps the fd's number in its file table; leave the fd
		 * open so that number cannot name another file when the loop starts.
		 */
		b->fd = -1;
		blk_free(b);
		return NULL;
	}
	return b->dev;
}
