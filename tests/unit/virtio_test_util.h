/*
 * Fixtures for the virtio device tests: a VM with guest RAM, an MMIO bus, an
 * I/O loop and an irqchip that counts pulses on the virtio GSI; 32-bit
 * virtio-mmio register accesses; the steps of a driver's initialisation;
 * ring helpers; bounded polling for what the I/O thread does.
 * Include after <cmocka.h>'s prerequisites; everything here is static inline.
 */
#ifndef SPRY_VIRTIO_TEST_UTIL_H
#define SPRY_VIRTIO_TEST_UTIL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "spry/virtio.h"
#include "spry/vm.h"

#define VT_BASE		SPRY_VIRTIO_MMIO_BASE

/* virtio-mmio registers (virtio 1.x, section 4.2.2) */
enum {
	VT_DEVICE_ID		= 0x008,
	VT_DEVICE_FEATURES	= 0x010,
	VT_DEVICE_FEATURES_SEL	= 0x014,
	VT_DRIVER_FEATURES	= 0x020,
	VT_DRIVER_FEATURES_SEL	= 0x024,
	VT_QUEUE_SEL		= 0x030,
	VT_QUEUE_NUM_MAX	= 0x034,
	VT_QUEUE_NUM		= 0x038,
	VT_QUEUE_READY		= 0x044,
	VT_QUEUE_NOTIFY		= 0x050,
	VT_STATUS		= 0x070,
	VT_QUEUE_DESC		= 0x080,
	VT_QUEUE_AVAIL		= 0x090,
	VT_QUEUE_USED		= 0x0a0,
};

/* ---- time ---- */

static inline uint64_t vt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void vt_sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 }, NULL);
}

/* Poll @cond every millisecond for up to @timeout_ms; whether it came true. */
#define vt_eventually(cond, timeout_ms) ({					\
	uint64_t vt_end_ = vt_now_ms() + (uint64_t)(timeout_ms);		\
	bool vt_ok_;								\
										\
	while (!(vt_ok_ = (cond)) && vt_now_ms() <= vt_end_)			\
		vt_sleep_ms(1);							\
	vt_ok_;									\
})

/* ---- the VM ---- */

static atomic_int vt_irq_pulses;	/* rising edges on SPRY_VIRTIO_MMIO_GSI */

static inline int vt_record_irq(struct vm *vm, unsigned int gsi, int level)
{
	if (gsi == SPRY_VIRTIO_MMIO_GSI && level)
		atomic_fetch_add(&vt_irq_pulses, 1);
	return 0;
}

static const struct accel_ops vt_recording_accel = { .name = "test", .irq_line = vt_record_irq };

/* Guest RAM of @mem_size, the MMIO bus and an I/O loop (not yet started). */
static inline void vt_vm_init(struct vm *vm, uint64_t mem_size)
{
	atomic_store(&vt_irq_pulses, 0);
	vm->accel = &vt_recording_accel;
	vm->mmio.name = "mmio";
	assert_int_equal(guest_memory_init(&vm->mem, mem_size), 0);
	vm->io = io_loop_create();
	assert_non_null(vm->io);
}

static inline void vt_vm_destroy(struct vm *vm)
{
	io_loop_destroy(vm->io);
	bus_destroy(&vm->mmio);
	guest_memory_destroy(&vm->mem);
}

static inline void *vt_gpa(struct vm *vm, uint64_t addr, uint64_t len)
{
	void *p = gpa_to_host(&vm->mem, addr, len);

	assert_non_null(p);
	return p;
}

/* ---- registers of the first virtio-mmio slot ---- */

static inline uint32_t vt_rd(struct vm *vm, uint64_t off)
{
	uint32_t v;

	bus_read(&vm->mmio, VT_BASE + off, &v, 4);
	return v;
}

static inline void vt_wr(struct vm *vm, uint64_t off, uint32_t v)
{
	bus_write(&vm->mmio, VT_BASE + off, &v, 4);
}

static inline void vt_wr64(struct vm *vm, uint64_t off, uint64_t v)
{
	vt_wr(vm, off, (uint32_t)v);
	vt_wr(vm, off + 4, (uint32_t)(v >> 32));
}

/* ---- a driver's initialisation, step by step ---- */

/* Reset, then ACKNOWLEDGE | DRIVER. */
static inline void vt_reset_and_ack(struct vm *vm)
{
	vt_wr(vm, VT_STATUS, 0);
	vt_wr(vm, VT_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
}

static inline uint64_t vt_device_features(struct vm *vm)
{
	uint64_t features;

	vt_wr(vm, VT_DEVICE_FEATURES_SEL, 0);
	features = vt_rd(vm, VT_DEVICE_FEATURES);
	vt_wr(vm, VT_DEVICE_FEATURES_SEL, 1);
	return features | (uint64_t)vt_rd(vm, VT_DEVICE_FEATURES) << 32;
}

/* Write both words of DriverFeatures, then ask for FEATURES_OK. */
static inline void vt_write_features(struct vm *vm, uint64_t features)
{
	vt_wr(vm, VT_DRIVER_FEATURES_SEL, 0);
	vt_wr(vm, VT_DRIVER_FEATURES, (uint32_t)features);
	vt_wr(vm, VT_DRIVER_FEATURES_SEL, 1);
	vt_wr(vm, VT_DRIVER_FEATURES, (uint32_t)(features >> 32));
	vt_wr(vm, VT_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	      VIRTIO_STATUS_FEATURES_OK);
}

/* Reset, ACKNOWLEDGE | DRIVER, @features, FEATURES_OK (the caller checks it held). */
static inline void vt_negotiate(struct vm *vm, uint64_t features)
{
	vt_reset_and_ack(vm);
	vt_write_features(vm, features);
}

/* Select queue @q, give it @size entries and its three rings, set QueueReady. */
static inline void vt_setup_queue(struct vm *vm, unsigned int q, uint32_t size, uint64_t desc,
				  uint64_t avail, uint64_t used)
{
	vt_wr(vm, VT_QUEUE_SEL, q);
	vt_wr(vm, VT_QUEUE_NUM, size);
	vt_wr64(vm, VT_QUEUE_DESC, desc);
	vt_wr64(vm, VT_QUEUE_AVAIL, avail);
	vt_wr64(vm, VT_QUEUE_USED, used);
	vt_wr(vm, VT_QUEUE_READY, 1);
}

static inline void vt_driver_ok(struct vm *vm)
{
	vt_wr(vm, VT_STATUS, vt_rd(vm, VT_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

static inline bool vt_needs_reset(struct vm *vm)
{
	return vt_rd(vm, VT_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

/* ---- the rings ---- */

/* Put @head in slot @idx of the avail ring at @avail (@qsize entries), publish idx + 1. */
static inline void vt_avail_put(struct vm *vm, uint64_t avail, uint16_t qsize, uint16_t idx,
				uint16_t head)
{
	uint16_t *ring = vt_gpa(vm, avail, 4 + 2ULL * qsize);

	ring[2 + idx % qsize] = head;
	__atomic_store_n(&ring[1], (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

/* The used ring's idx, as the device last published it. */
static inline uint16_t vt_used_idx(struct vm *vm, uint64_t used)
{
	return __atomic_load_n((uint16_t *)vt_gpa(vm, used + 2, 2), __ATOMIC_ACQUIRE);
}

#endif
