/*
 * virtio-rng (virtio 1.2, 5.4): each writable chain is filled from
 * getrandom() on the I/O thread, at most cfg->rate bytes a second (a token
 * bucket one second deep); a chain waits, held, until the bucket covers it
 * (or holds a full second's worth) and an io_uring timeout resumes it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "spry/log.h"
#include "spry/util.h"
#include "spry/virtio_devices.h"

#define RNG_QUEUE_MAX	64
#define RNG_CHAIN_MAX	(64 * 1024)	/* most bytes one chain gets: partial fills are fine */
#define RNG_WAIT_MIN_NS	1000000LL	/* 1 ms */
#define RNG_EAGAIN_NS	100000000LL	/* entropy not ready yet: try again in 100 ms */
#define NSEC		1000000000ULL


struct vrng {
	struct virtio_dev *dev;
	struct io_loop *loop;

	uint64_t rate;			/* bytes per second, 0: unlimited */
	uint64_t bucket;		/* token bucket depth: one second's worth */
	uint64_t tokens;
	uint64_t last_ns;		/* CLOCK_MONOTONIC of the last refill */

	bool running;			/* between start() and reset() */
	unsigned int gen;		/* bumped on every reset */
	bool held;			/* chain popped, waiting for entropy */
	struct virtq_chain chain;

	struct io_op timer_op, cancel_op;
	bool timer_busy;
	unsigned int timer_gen;
	struct __kernel_timespec ts;	/* read by the kernel when it takes the SQE */
};

static void rng_kick(struct vrng *r);

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static void refill(struct vrng *r)
{
	uint64_t now = now_ns(), elapsed = now - r->last_ns, add;

	if (!r->rate)
		return;
	if (elapsed >= NSEC) {
		r->tokens = r->bucket;
		r->last_ns = now;
		return;
	}
	add = (uint64_t)((unsigned __int128)elapsed * r->rate / NSEC);
	if (!add)
		return;
	/* Advance by the time those tokens took, so fractions are not lost. */
	r->last_ns += (uint64_t)(((unsigned __int128)add * NSEC + r->rate - 1) / r->rate);
	r->tokens += add;
	if (r->tokens >= r->bucket) {
		r->tokens = r->bucket;
		r->last_ns = now;
	}
}

static void timer_done(struct io_op *op, int res)
{
	struct vrng *r = container_of(op, struct vrng, timer_op);

	r->timer_busy = false;
	if (res == -ECANCELED && r->timer_gen == r->gen)
		return;		/* the loop is stopping */
	rng_kick(r);
}

static void cancel_done(struct io_op *op, int res)
{
	(void)op;
	(void)res;
}

static void arm_timer(struct vrng *r, uint64_t ns)
{
	struct io_uring_sqe *sqe;

	if (ns < RNG_WAIT_MIN_NS)
		ns = RNG_WAIT_MIN_NS;
	r->ts.tv_sec = (long long)(ns / NSEC);
	r->ts.tv_nsec = (long long)(ns % NSEC);
	sqe = io_loop_get_sqe(r->loop, &r->timer_op);
	io_uring_prep_timeout(sqe, &r->ts, 0, 0);
	r->timer_busy = true;
	r->timer_gen = r->gen;
}

/* Fill up to @max bytes of the held chain; bytes written, or -1 if entropy is not ready. */
static long fill_chain(struct vrng *r, uint64_t max)
{
	struct virtq_chain *ch = &r->chain;
	uint64_t done = 0;

	for (unsigned int i = 0; i < ch->nwrite && done < max; i++) {
		uint8_t *p = ch->iov[i].iov_base;
		size_t len = ch->iov[i].iov_len, off = 0;

		if (len > max - done)
			len = (size_t)(max - done);
		while (off < len) {
			ssize_t n = getrandom(p + off, len - off, GRND_NONBLOCK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				if (done + off)
					return (long)(done + off);
				return -1;
			}
			off += (size_t)n;
		}
		done += len;
	}
	return (long)done;
}

static void rng_kick(struct vrng *r)
{
	struct virtq *vq = &r->dev->vq[0];
	bool pushed = false;

	if (!r->running || r->timer_busy || atomic_load(&r->dev->broken) || !vq->enabled)
		return;
	for (;;) {
		uint64_t want;
		long n;
		int ret;

		if (!r->held) {
			ret = virtq_pop(vq, &r->chain);
			if (ret == 0) {
				virtq_set_notify(vq, true);
				if (virtq_has_work(vq))
					continue;
				break;
			}
			if (ret < 0) {
				virtio_device_error(r->dev, 0, NULL);
				break;
			}
			/* 5.4.6.1: the driver places only device-writable buffers in the queue. */
			if (r->chain.nread) {
				virtio_device_error(r->dev, 0, "device-readable buffer in the requestq");
				break;
			}
			r->held = true;	/* its writable iovecs start at 0 */
		}
		want = r->chain.write_len < RNG_CHAIN_MAX ? r->chain.write_len : RNG_CHAIN_MAX;
		if (r->rate) {
			/* Whole fills while the bucket allows them: fewer, fuller answers. */
			if (want > r->bucket)
				want = r->bucket;
			refill(r);
			if (r->tokens < want) {
				arm_timer(r, (uint64_t)((unsigned __int128)(want - r->tokens) * NSEC /
							r->rate));
				break;
			}
		}
		n = fill_chain(r, want);
		if (n < 0) {
			arm_timer(r, RNG_EAGAIN_NS);
			break;
		}
		if (r->rate)
			r->tokens -= (uint64_t)n;
		r->held = false;
		virtq_push(vq, r->chain.head, (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(r->dev, 0);
}

static void rng_start(struct virtio_dev *d)
{
	struct vrng *r = d->priv;

	r->running = true;
	rng_kick(r);
}

static void rng_queue_notify(struct virtio_dev *d, unsigned int q)
{
	(void)q;
	rng_kick(d->priv);
}

static void rng_reset(struct virtio_dev *d)
{
	struct vrng *r = d->priv;
	struct io_uring_sqe *sqe;

	r->running = false;
	r->held = false;
	r->gen++;
	if (r->timer_busy) {
		sqe = io_loop_get_sqe(r->loop, &r->cancel_op);
		io_uring_prep_cancel(sqe, &r->timer_op, 0);	/* TIMEOUT_REMOVE is not allowed */
	}
}

static void rng_config_read(struct virtio_dev *d, uint32_t off, void *data, unsigned int len)
{
	(void)d;
	(void)off;
	(void)data;
	(void)len;
}

static void rng_destroy(struct virtio_dev *d)
{
	free(d->priv);
}

static const struct virtio_dev_ops vrng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.nqueues = 1,
	.queue_max = RNG_QUEUE_MAX,
	.features = 0,
	.config_size = 0,
	.config_read = rng_config_read,
	.start = rng_start,
	.queue_notify = rng_queue_notify,
	.reset = rng_reset,
	.destroy = rng_destroy,
};

struct virtio_dev *virtio_rng_create(struct vm *vm, struct io_loop *loop, unsigned int index,
				     const struct rng_config *cfg)
{
	struct vrng *r = calloc(1, sizeof(*r));

	if (!r) {
		spry_err("virtio-rng: out of memory");
		return NULL;
	}
	r->loop = loop;
	r->rate = cfg->rate;
	r->bucket = cfg->rate;
	r->tokens = r->bucket;
	r->last_ns = now_ns();
	r->timer_op.done = timer_done;
	r->cancel_op.done = cancel_done;
	r->dev = virtio_mmio_create(vm, loop, index, &vrng_ops, r);
	if (!r->dev) {
		free(r);
		return NULL;
	}
	return r->dev;
}
