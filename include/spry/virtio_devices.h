/*
 * The virtio device models: each creates its device on a virtio-mmio window
 * (see virtio_mmio_create()) and opens its backend. NULL with a message
 * printed on failure.
 */
#ifndef SPRY_VIRTIO_DEVICES_H
#define SPRY_VIRTIO_DEVICES_H

#include "spry/config.h"
#include "spry/virtio.h"

struct virtio_dev *virtio_blk_create(struct vm *vm, struct io_loop *loop, unsigned int index,
				     const struct disk_config *cfg);
struct virtio_dev *virtio_console_create(struct vm *vm, struct io_loop *loop, unsigned int index,
					 const struct console_config *cfg);
struct virtio_dev *virtio_rng_create(struct vm *vm, struct io_loop *loop, unsigned int index,
				     const struct rng_config *cfg);

#endif
