/*
 * The virtio-mmio transport driven as a Linux driver would drive it, through
 * MMIO register accesses on the bus, with a small echo device behind it and
 * rings in real guest memory; the I/O loop runs on its own thread.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "virtio_test_util.h"

#define BASE		VT_BASE
#define QSIZE		8
#define DESC_GPA	0x10000ULL
#define AVAIL_GPA	0x11000ULL
#define USED_GPA	0x12000ULL
#define DATA_GPA	0x20000ULL
#define ECHO_FEATURE	3	/* a device-specific bit the echo device offers */

/* ---- a tiny device: copies each chain's readable bytes into its writable part ---- */

struct echo {
	atomic_int starts, resets;
	uint8_t config[8];
};

static void echo_config_read(struct virtio_dev *d, uint32_t off, void *data, unsigned int len)
{
	memcpy(data, ((struct echo *)d->priv)->config + off, len);
}

static void echo_start(struct virtio_dev *d)
{
	atomic_fetch_add(&((struct echo *)d->priv)->starts, 1);
}

static void echo_reset(struct virtio_dev *d)
{
	atomic_fetch_add(&((struct echo *)d->priv)->resets, 1);
}

static void echo_notify(struct virtio_dev *d, unsigned int q)
{
	static struct virtq_chain c;
	int ret;

	while ((ret = virtq_pop(&d->vq[q], &c)) > 0) {
		uint32_t n = 0;

		for (unsigned int i = 0; i < c.nread && c.nwrite; i++) {
			struct iovec *w = &c.iov[c.nread];
			size_t k = c.iov[i].iov_len < w->iov_len - n ? c.iov[i].iov_len :
				   w->iov_len - n;

			memcpy((uint8_t *)w->iov_base + n, c.iov[i].iov_base, k);
			n += (uint32_t)k;
		}
		virtq_push(&d->vq[q], c.head, n);
	}
	if (ret < 0)
		virtio_device_error(d, q, NULL);
	else
		virtio_notify_used(d, q);
}

static const struct virtio_dev_ops echo_ops = {
	.name = "virtio-echo", .device_id = 42, .nqueues = 1, .queue_max = QSIZE,
	.features = 1ULL << ECHO_FEATURE, .config_size = 8,
	.config_read = echo_config_read, .start = echo_start,
	.queue_notify = echo_notify, .reset = echo_reset,
};

/* ---- a VM with a recording irqchip (virtio_test_util.h) ---- */

struct fixture {
	struct vm vm;
	struct echo echo;
	struct virtio_dev *dev;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	vt_vm_init(&f->vm, 4 << 20);
	f->echo.config[0] = 0x5a;
	f->dev = virtio_mmio_create(&f->vm, f->vm.io, 0, &echo_ops, &f->echo);
	assert_non_null(f->dev);
	assert_int_equal(io_loop_start(f->vm.io), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vt_vm_destroy(&f->vm);
	free(f);
	return 0;
}

static uint32_t rd(struct fixture *f, uint64_t off) { return vt_rd(&f->vm, off); }
static void wr(struct fixture *f, uint64_t off, uint32_t v) { vt_wr(&f->vm, off, v); }
static void *gpa(struct fixture *f, uint64_t a, uint64_t n) { return vt_gpa(&f->vm, a, n); }

/* Reset, ACKNOWLEDGE | DRIVER, @features, FEATURES_OK. */
static void negotiate(struct fixture *f, uint64_t features)
{
	vt_negotiate(&f->vm, features);
}

/* Queue 0 with @size entries on the rings at DESC_GPA, AVAIL_GPA, USED_GPA; QueueReady. */
static void setup_queue(struct fixture *f, uint32_t size)
{
	vt_setup_queue(&f->vm, 0, size, DESC_GPA, AVAIL_GPA, USED_GPA);
}

static void driver_ok(struct fixture *f)
{
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(f, QSIZE);
	vt_driver_ok(&f->vm);
}

/* Put a two-descriptor chain (8 readable bytes, 8 writable) at head @h, next @next. */
static void add_chain(struct fixture *f, uint16_t h, uint16_t next, uint16_t avail_idx)
{
	struct virtq_desc *desc = gpa(f, DESC_GPA, QSIZE * sizeof(*desc));

	desc[h] = (struct virtq_desc){ DATA_GPA, 8, VIRTQ_DESC_F_NEXT, next };
	desc[(h + 1) % QSIZE] = (struct virtq_desc){ DATA_GPA + 64, 8, VIRTQ_DESC_F_WRITE, 0 };
	vt_avail_put(&f->vm, AVAIL_GPA, QSIZE, avail_idx, h);
}

static uint16_t used_idx(struct fixture *f) { return vt_used_idx(&f->vm, USED_GPA); }

/* Wait (bounded) for the I/O thread to act. */
static bool eventually(struct fixture *f, bool (*cond)(struct fixture *f))
{
	return vt_eventually(cond(f), 2000);
}

static bool one_used(struct fixture *f) { return used_idx(f) == 1; }
static bool needs_reset(struct fixture *f) { return vt_needs_reset(&f->vm); }

static void identity_registers(void **state)
{
	struct fixture *f = *state;
	uint8_t b;

	assert_int_equal(rd(f, 0x000), 0x74726976);
	assert_int_equal(rd(f, 0x004), 2);
	assert_int_equal(rd(f, 0x008), 42);
	wr(f, 0x014, 0);
	assert_int_equal(rd(f, 0x010), (1u << ECHO_FEATURE) | (1u << VIRTIO_F_EVENT_IDX) |
			 (1u << VIRTIO_F_INDIRECT_DESC));
	wr(f, 0x014, 1);
	assert_int_equal(rd(f, 0x010), 1);	/* VERSION_1 is bit 32 */
	wr(f, 0x030, 0);
	assert_int_equal(rd(f, 0x034), QSIZE);
	wr(f, 0x030, 1);
	assert_int_equal(rd(f, 0x034), 0);	/* no such queue */
	assert_true(bus_read(&f->vm.mmio, BASE + 0x100, &b, 1));
	assert_int_equal(b, 0x5a);
	/* Registers are 32-bit: a byte read of one is ignored (all ones). */
	assert_true(bus_read(&f->vm.mmio, BASE, &b, 1));
	assert_int_equal(b, 0xff);
}

static void feature_negotiation(void **state)
{
	struct fixture *f = *state;

	negotiate(f, 1ULL << ECHO_FEATURE);	/* no VERSION_1: legacy drivers are refused */
	assert_false(rd(f, 0x070) & VIRTIO_STATUS_FEATURES_OK);
	negotiate(f, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 40));	/* not offered */
	assert_false(rd(f, 0x070) & VIRTIO_STATUS_FEATURES_OK);
	negotiate(f, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << ECHO_FEATURE));
	assert_true(rd(f, 0x070) & VIRTIO_STATUS_FEATURES_OK);
	assert_true(virtio_has_feature(f->dev, ECHO_FEATURE));
	/* Features are frozen after FEATURES_OK. */
	wr(f, 0x024, 0);
	wr(f, 0x020, 0);
	assert_true(virtio_has_feature(f->dev, ECHO_FEATURE));
}

static void driver_ok_needs_features_ok(void **state)
{
	struct fixture *f = *state;

	wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	assert_false(rd(f, 0x070) & VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(atomic_load(&f->echo.starts), 0);
}

static void bad_queue_is_not_enabled(void **state)
{
	struct fixture *f = *state;

	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(f, 6);			/* not a power of two */
	assert_int_equal(rd(f, 0x044), 0);
	setup_queue(f, QSIZE * 2);		/* above QueueNumMax */
	assert_int_equal(rd(f, 0x044), 0);
	wr(f, 0x030, 0);
	wr(f, 0x038, QSIZE);
	wr(f, 0x080, (uint32_t)(4 << 20) - 8);	/* descriptor table past the end of RAM */
	wr(f, 0x044, 1);
	assert_int_equal(rd(f, 0x044), 0);
	setup_queue(f, QSIZE);
	assert_int_equal(rd(f, 0x044), 1);
}

static void request_round_trip(void **state)
{
	struct fixture *f = *state;

	driver_ok(f);
	assert_int_equal(atomic_load(&f->echo.starts), 1);
	memcpy(gpa(f, DATA_GPA, 8), "virtio!", 8);
	add_chain(f, 0, 1, 0);
	wr(f, 0x050, 0);			/* QueueNotify */
	assert_true(eventually(f, one_used));
	assert_memory_equal(gpa(f, DATA_GPA + 64, 8), "virtio!", 8);
	assert_int_equal(((uint32_t *)gpa(f, USED_GPA + 4, 8))[1], 8);
	assert_true(rd(f, 0x060) & VIRTIO_ISR_QUEUE);
	assert_true(atomic_load(&vt_irq_pulses) >= 1);
	wr(f, 0x064, VIRTIO_ISR_QUEUE);
	assert_int_equal(rd(f, 0x060), 0);
}

static void queue_ready_zero_stops_the_queue(void **state)
{
	struct fixture *f = *state;

	driver_ok(f);
	wr(f, 0x030, 0);
	assert_int_equal(rd(f, 0x044), 1);
	wr(f, 0x044, 0);
	assert_int_equal(rd(f, 0x044), 0);
	/* A stopped queue takes no requests... */
	add_chain(f, 0, 1, 0);
	wr(f, 0x050, 0);
	vt_sleep_ms(20);
	assert_int_equal(used_idx(f), 0);
	assert_false(rd(f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	/* ...and can be set up again. */
	setup_queue(f, QSIZE);
	assert_int_equal(rd(f, 0x044), 1);
	wr(f, 0x050, 0);
	assert_true(eventually(f, one_used));
}

static void notify_for_missing_queue_is_ignored(void **state)
{
	struct fixture *f = *state;

	driver_ok(f);
	add_chain(f, 0, 1, 0);
	wr(f, 0x050, 7);
	wr(f, 0x050, 0xffffffff);
	vt_sleep_ms(20);
	assert_int_equal(used_idx(f), 0);
	assert_false(rd(f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

static void violation_needs_reset_until_reset(void **state)
{
	struct fixture *f = *state;
	int resets;

	driver_ok(f);
	add_chain(f, 0, 200, 0);		/* next index beyond the queue */
	wr(f, 0x050, 0);
	assert_true(eventually(f, needs_reset));
	assert_true(rd(f, 0x060) & VIRTIO_ISR_CONFIG);
	assert_int_equal(used_idx(f), 0);
	/* A broken device ignores further notifications... */
	add_chain(f, 2, 3, 1);
	wr(f, 0x050, 0);
	vt_sleep_ms(20);
	assert_int_equal(used_idx(f), 0);
	/* ...until the driver resets it; then it works again. */
	resets = atomic_load(&f->echo.resets);
	wr(f, 0x070, 0);
	assert_int_equal(rd(f, 0x070), 0);
	assert_int_equal(rd(f, 0x060), 0);
	assert_int_equal(atomic_load(&f->echo.resets), resets + 1);
	memset(gpa(f, USED_GPA, 4 + 8 * QSIZE), 0, 4 + 8 * QSIZE);
	memset(gpa(f, AVAIL_GPA, 4 + 2 * QSIZE), 0, 4 + 2 * QSIZE);
	driver_ok(f);
	add_chain(f, 0, 1, 0);
	wr(f, 0x050, 0);
	assert_true(eventually(f, one_used));
	assert_int_equal(atomic_load(&f->echo.starts), 2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(identity_registers),
		T(feature_negotiation),
		T(driver_ok_needs_features_ok),
		T(bad_queue_is_not_enabled),
		T(request_round_trip),
		T(queue_ready_zero_stops_the_queue),
		T(notify_for_missing_queue_is_ignored),
		T(violation_needs_reset_until_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
